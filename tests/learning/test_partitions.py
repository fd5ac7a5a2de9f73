"""The study models' work in partitions equals the work on everyone at once, bit for bit, on
the small demo world: the recommender's candidate frames, training rows, ranker (LightGBM
built from rows on disk) and ranked lists; the mastery model fitted per learner partition."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

import models.learning.mastery as mastery_module
import models.learning.recommender as recommender_module
from features.learning.data import LearningData
from features.learning.kt_features import (
    HISTORY_COLUMNS,
    response_features,
    sort_events,
    stored_history,
    with_history,
)
from features.learning.snapshot import Snapshot
from models.learning.mastery import DifficultyTable, MasteryModel, PfaLogistic, learner_folds
from models.learning.recommender import (
    FEATURES,
    StudyRecommender,
    candidate_frame,
    default_cuts,
    member_partitions,
)

CUT = datetime(2025, 12, 1)
SMALL = 7  # members per partition: many partitions, the last one short


@pytest.fixture(scope="module")
def data(small_learning_data: LearningData) -> LearningData:
    return small_learning_data


@pytest.fixture(scope="module")
def mastery(data: LearningData) -> MasteryModel:
    events = data.events()
    return MasteryModel(n_estimators=30, min_data_in_leaf=20).fit(
        events[events["timestamp"] < pd.Timestamp(CUT)]
    )


@pytest.fixture(scope="module")
def snapshot(data: LearningData, mastery: MasteryModel) -> Snapshot:
    return Snapshot.build(data, CUT, mastery=mastery)


@pytest.fixture(scope="module")
def fitted(data: LearningData, mastery: MasteryModel) -> StudyRecommender:
    model = StudyRecommender(n_estimators=20, min_data_in_leaf=10, learning_weight=0.5)
    return model.fit(data, default_cuts(CUT, months=2), mastery=mastery)


def test_partitions_cover_the_rows_in_order(snapshot: Snapshot) -> None:
    parts = member_partitions(snapshot, size=SMALL)
    assert len(parts) > 2
    assert len(parts[-1]) <= SMALL
    np.testing.assert_array_equal(np.concatenate(parts), np.arange(len(snapshot.member_keys)))


def test_candidate_frames_of_partitions_are_the_whole_frame(snapshot: Snapshot) -> None:
    whole = candidate_frame(snapshot)
    parts = [
        candidate_frame(snapshot, rows=part) for part in member_partitions(snapshot, size=SMALL)
    ]
    np.testing.assert_array_equal(np.concatenate([p.m for p in parts]), whole.m)
    np.testing.assert_array_equal(np.concatenate([p.i for p in parts]), whole.i)
    joined = np.concatenate([p.features.to_numpy(dtype=float) for p in parts])
    np.testing.assert_array_equal(joined, whole.features.to_numpy(dtype=float))
    assert len(whole.m) > 10 * len(snapshot.member_keys)  # a real frame, not an empty one


def test_snapshot_rows_of_some_members_are_their_rows_of_everyone(snapshot: Snapshot) -> None:
    rows = np.arange(3, len(snapshot.member_keys), 11)
    for name in ("cooccurrence", "ease", "role_popularity", "engagement"):
        np.testing.assert_array_equal(
            getattr(snapshot, f"{name}_rows")(rows), getattr(snapshot, name)[rows], err_msg=name
        )
    np.testing.assert_array_equal(snapshot.kp_gap(rows), snapshot.kp_gap()[rows])


def test_training_rows_and_ranker_do_not_depend_on_the_partition_size(
    data: LearningData, mastery: MasteryModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    cuts = default_cuts(CUT, months=2)
    model = StudyRecommender(n_estimators=20, min_data_in_leaf=10)
    monkeypatch.setattr(recommender_module, "PARTITION_MEMBERS", 10**9)
    whole, whole_labels, whole_groups = model.training_frame(data, cuts, mastery=mastery)
    monkeypatch.setattr(recommender_module, "PARTITION_MEMBERS", SMALL)
    parts, labels, groups = model.training_frame(data, cuts, mastery=mastery)
    pd.testing.assert_frame_equal(parts, whole)
    np.testing.assert_array_equal(labels, whole_labels)
    assert groups == whole_groups
    assert sum(groups) == len(parts)

    # the ranker LightGBM builds from the partitions' files is the one from a single matrix
    fitted = StudyRecommender(n_estimators=20, min_data_in_leaf=10).fit(data, cuts, mastery=mastery)
    dataset = lgb.Dataset(
        whole.to_numpy(dtype=float),
        label=whole_labels,
        group=whole_groups,
        feature_name=list(FEATURES),
    )
    single = lgb.train(fitted.lightgbm_params(), dataset, num_boost_round=fitted.n_estimators)
    assert fitted.booster_ is not None
    assert fitted.booster_.model_to_string() == single.model_to_string()


def test_ranked_lists_do_not_depend_on_the_partition_size(
    fitted: StudyRecommender, snapshot: Snapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recommender_module, "PARTITION_MEMBERS", 10**9)
    whole = fitted.rank_snapshot(snapshot, k=10)
    monkeypatch.setattr(recommender_module, "PARTITION_MEMBERS", SMALL)
    assert fitted.rank_snapshot(snapshot, k=10) == whole
    assert sum(len(chosen) for chosen in whole.values()) > 5 * len(whole)


def test_mastery_model_fitted_in_learner_partitions_is_the_whole_fit(
    data: LearningData, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = data.events()
    train = events[events["timestamp"] < pd.Timestamp(CUT)]
    monkeypatch.setattr(mastery_module, "PROFILE_CHUNK_LEARNERS", SMALL)
    parts = MasteryModel(n_estimators=20, min_data_in_leaf=20).fit(train)
    monkeypatch.setattr(mastery_module, "PROFILE_CHUNK_LEARNERS", 10**9)
    whole = MasteryModel(n_estimators=20, min_data_in_leaf=20).fit(train)
    assert parts.booster_.model_to_string() == whole.booster_.model_to_string()

    # and the booster LightGBM builds from the rows on disk is the one from one frame
    # of every training row, as the model was fitted before it wrote partitions
    probe = sort_events(events[events["timestamp"] >= pd.Timestamp(CUT)].head(5000))
    matrix = whole.matrix(probe)
    ordered = sort_events(train)
    item, kp = _out_of_fold_difficulty(whole, ordered)
    frame = whole._matrix(ordered, item, kp)
    labels = ordered.loc[frame.index, "correct"].to_numpy(dtype=float)
    single = lgb.train(
        whole.lightgbm_params(), lgb.Dataset(frame, label=labels), whole.n_estimators
    )
    np.testing.assert_array_equal(single.predict(matrix), whole.booster_.predict(matrix))


def test_history_built_once_is_each_subset_own(data: LearningData) -> None:
    """``with_history`` on every event, read back on a time cut's rows and on some learners'
    rows, equals ``response_features`` of those rows alone; the mastery model and the PFA
    baseline fitted and scored from the stored columns equal those that recompute them."""
    events = sort_events(data.events())
    stored = with_history(events)
    assert list(stored.columns[: events.shape[1]]) == list(events.columns)
    before = stored[stored["timestamp"] < pd.Timestamp(CUT)]
    learners = stored[learner_folds(stored["member_key"], 5) == 0]
    for subset in (before, learners):
        recomputed = response_features(sort_events(subset[list(events.columns)]))
        kept = stored_history(sort_events(subset))
        assert kept is not None
        pd.testing.assert_frame_equal(kept, recomputed)
    plain = events[events["timestamp"] < pd.Timestamp(CUT)]
    reused = MasteryModel(n_estimators=20, min_data_in_leaf=20).fit(before)
    fresh = MasteryModel(n_estimators=20, min_data_in_leaf=20).fit(plain)
    assert reused.booster_.model_to_string() == fresh.booster_.model_to_string()
    pd.testing.assert_series_equal(reused.predict_next(stored), fresh.predict_next(events))
    pfa_reused, pfa_fresh = PfaLogistic().fit(before), PfaLogistic().fit(plain)
    np.testing.assert_array_equal(pfa_reused.coef_, pfa_fresh.coef_)
    pd.testing.assert_series_equal(pfa_reused.predict_next(stored), pfa_fresh.predict_next(events))
    # profiles add probes: the stored columns are dropped and every feature recomputed
    kps = sorted(events["kp_id"].unique())[:5]
    members = sorted(events["member_key"].unique())[:20]
    pd.testing.assert_frame_equal(
        fresh.mastery_profiles(stored, kps, pd.Timestamp(CUT), members=members),
        fresh.mastery_profiles(events, kps, pd.Timestamp(CUT), members=members),
    )
    assert stored_history(stored.assign(kind="probe")) is None
    assert set(HISTORY_COLUMNS) <= set(stored.columns)


def _out_of_fold_difficulty(model: MasteryModel, events: pd.DataFrame) -> tuple[Any, Any]:
    """``MasteryModel.fit``'s out-of-fold item and KP difficulty of every event row."""
    responses = events[events["kind"] == "response"]
    item = np.full(len(events), np.nan)
    kp = np.full(len(events), np.nan)
    folds = learner_folds(events["member_key"], model.difficulty_folds)
    response_folds = folds[responses.index.to_numpy()]
    for fold in range(model.difficulty_folds):
        table = DifficultyTable().fit(responses[response_folds != fold])
        in_fold = (folds == fold) & (events["kind"] != "study").to_numpy()
        item[in_fold], kp[in_fold] = table.transform(
            events.loc[in_fold, "item_id"], events.loc[in_fold, "kp_id"]
        )
    return item, kp
