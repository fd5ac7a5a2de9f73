"""MasteryModel on simulated Rasch learners: it ranks, it serialises, profiles behave."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from features.learning.kt_features import sort_events
from models.learning.mastery import PROFILE_COLUMNS, MasteryModel, MasteryModelError, PfaLogistic


def simulated_events(n_learners: int = 120, n_answers: int = 40, seed: int = 0) -> pd.DataFrame:
    """Learners of varied ability answer items of varied difficulty on 4 KPs, learning a bit
    with every answer (so history predicts)."""
    rng = np.random.default_rng(seed)
    item_difficulty = rng.normal(0, 1, size=20)
    rows = []
    for learner in range(n_learners):
        ability = rng.normal(0, 1)
        skill = np.zeros(4)
        for step in range(n_answers):
            item = int(rng.integers(20))
            kp = item % 4
            p = 1 / (1 + np.exp(-(ability + skill[kp] - item_difficulty[item])))
            right = float(rng.random() < p)
            skill[kp] += 0.15
            rows.append(
                {
                    "member_key": f"m{learner}",
                    "timestamp": pd.Timestamp("2025-01-01") + pd.Timedelta(hours=step),
                    "order": step,
                    "kind": "response",
                    "item_id": f"q{item}",
                    "kp_id": f"K{kp}",
                    "correct": right,
                    "minutes": 0.0,
                    "stated_difficulty": np.nan,
                }
            )
    return sort_events(pd.DataFrame(rows))


@pytest.fixture(scope="module")
def fitted() -> tuple[MasteryModel, pd.DataFrame]:
    train = simulated_events(seed=0)
    return MasteryModel(n_estimators=60, min_data_in_leaf=20).fit(train), train


def test_model_ranks_unseen_learners_above_chance_and_beats_nothing(fitted) -> None:
    model, train = fitted
    test = simulated_events(n_learners=60, seed=1)
    predicted = model.predict_next(test)
    labels = sort_events(test).loc[predicted.index, "correct"]
    assert roc_auc_score(labels, predicted) > 0.65
    baseline = PfaLogistic().fit(train).predict_next(test)
    assert roc_auc_score(labels, baseline) > 0.55


def test_save_and_load_give_the_same_predictions(fitted, tmp_path: Path) -> None:
    model, train = fitted
    loaded = MasteryModel.load(model.save(tmp_path / "m"))
    sample = train[train["member_key"].isin(["m1", "m2"])]
    np.testing.assert_allclose(loaded.predict_next(sample), model.predict_next(sample))


def test_profile_columns_cold_start_and_as_of(fitted) -> None:
    model, train = fitted
    mine = train[train["member_key"] == "m3"]
    profile = model.mastery_profile(mine, ["K0", "K1", "K9"], mine["timestamp"].max())
    assert list(profile.columns) == list(PROFILE_COLUMNS)
    assert profile["kp_id"].tolist() == ["K0", "K1", "K9"]
    assert profile["p_correct"].between(0, 1).all()
    assert profile.loc[2, "attempts"] == 0
    assert pd.isna(profile.loc[2, "last_practised"])
    assert profile.loc[0, "attempts"] == (mine["kp_id"] == "K0").sum()
    early = model.mastery_profile(mine, ["K0"], mine["timestamp"].min() - pd.Timedelta(days=1))
    assert early.loc[0, "attempts"] == 0  # events after as_of are ignored
    cold = model.mastery_profile(mine.iloc[:0], ["K0", "K1"], "2025-06-01")
    assert cold["attempts"].tolist() == [0, 0]


def test_profile_rises_with_right_answers(fitted) -> None:
    model, _ = fitted
    base = simulated_events(n_learners=1, n_answers=1, seed=5)
    right = pd.concat(
        [
            base.assign(correct=1.0, order=i, timestamp=base["timestamp"] + pd.Timedelta(hours=i))
            for i in range(8)
        ]
    ).assign(kp_id="K2")
    wrong = right.assign(correct=0.0)
    at = right["timestamp"].max()
    assert (
        model.mastery_profile(right, ["K2"], at).loc[0, "p_correct"]
        > model.mastery_profile(wrong, ["K2"], at).loc[0, "p_correct"]
    )


def test_profile_refuses_two_learners_and_unfitted_model(fitted) -> None:
    model, train = fitted
    with pytest.raises(MasteryModelError):
        model.mastery_profile(train, ["K0"], "2025-02-01")
    with pytest.raises(MasteryModelError):
        MasteryModel().predict_next(train)
