"""The study jobs read a bounded part of the store: learners filtered as the store scans
(``store.queries.learning.member_filter``), a seeded sample of whole learners for mastery,
every learner a bucket at a time for the check-in judgements, and the recommender's
evaluation on a sample of members that scorers and champion share."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.settings import Settings
from features.learning.checkin import detect_check_in
from features.learning.data import LearningData
from features.learning.kt_features import MEMBER, ORDER, TIMESTAMP, build_events, sort_events
from features.learning.snapshot import Snapshot
from models.learning.mastery import MasteryModel
from models.learning.recommender import StudyRecommender, default_cuts, training_members
from store.database import Store
from store.queries import learning as queries
from training.data_source import open_training_snapshot
from training.mastery import (
    TrainingOptions,
    auc_standard_error,
    judge_every_member,
    study_learners,
    train,
)
from training.metrics.recsys import ranking_report
from training.recommender import K, baseline_lists, evaluate, model_lists, relevant_items

CUT = datetime(2025, 12, 1)


@pytest.fixture
def settings(small_installation: dict[str, str]) -> Settings:
    return Settings(
        data_dir=Path(small_installation["LODESTAR_DATA_DIR"]),
        key_file=Path(small_installation["LODESTAR_KEY_FILE"]),
    )


def _comparable(events: pd.DataFrame) -> pd.DataFrame:
    """Events without ``order`` (it counts rows within what was read), keys as text."""
    frame = events.drop(columns=ORDER).reset_index(drop=True)
    return frame.astype({name: str for name in frame.columns if name not in (TIMESTAMP,)})


def test_member_filter_reads_those_learners_rows_only(small_store: Store) -> None:
    everyone = sort_events(build_events(small_store))
    keys = sorted(everyone[MEMBER].astype(str).unique())[::7]
    some = build_events(small_store, members=keys)
    assert set(some[MEMBER].astype(str)) == set(keys)
    theirs = everyone[everyone[MEMBER].astype(str).isin(keys)]
    pd.testing.assert_frame_equal(_comparable(some), _comparable(theirs))


def test_member_buckets_partition_the_learners(small_store: Store) -> None:
    everyone = build_events(small_store)
    parts = [build_events(small_store, bucket=(b, 3)) for b in range(3)]
    learners = [set(part[MEMBER].astype(str)) for part in parts]
    assert sum(len(part) for part in parts) == len(everyone)
    assert not learners[0] & learners[1]
    assert not learners[1] & learners[2]
    assert set().union(*learners) == set(everyone[MEMBER].astype(str))
    with pytest.raises(ValueError, match="outside"):
        queries.member_filter(None, (3, 3))


def test_study_learners_take_whole_learners_within_the_budget(small_store: Store) -> None:
    counts = queries.answer_counts(small_store)
    total = int(counts["answers"].sum())
    assert study_learners(counts, total) is None
    assert study_learners(counts, None) is None
    chosen = study_learners(counts, total // 3, seed=2)
    assert chosen is not None
    assert chosen == sorted(chosen)
    assert chosen == study_learners(counts, total // 3, seed=2)  # a rerun draws the same
    assert chosen != study_learners(counts, total // 3, seed=3)
    answers = counts.set_index(counts["member_key"].astype(str))["answers"]
    assert int(answers[chosen].sum()) <= total // 3
    assert len(chosen) > len(counts) // 5  # a uniform draw, not a few heavy learners


def test_auc_standard_error_shrinks_with_rows() -> None:
    small, large = auc_standard_error(0.75, 50, 50), auc_standard_error(0.75, 5000, 5000)
    assert 0 < large < small < 0.1
    assert np.isnan(auc_standard_error(0.75, 0, 10))


def test_mastery_on_a_sample_of_learners(settings: Settings, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with open_training_snapshot(settings, quiet=True) as data:
        total = int(queries.answer_counts(data)["answers"].sum())
    options = TrainingOptions(n_estimators=20, max_study_answers=total // 2)
    result = train(settings, options, tracking_uri=uri, quiet=True)
    metrics = result.metrics
    assert metrics["study.answers"] <= total // 2 < metrics["study.answers_total"] == total
    assert metrics["study.learners"] < metrics["study.learners_total"]
    assert metrics["time.model.auc"] > 0.6
    assert 0 < metrics["time.model.auc_se"] < 0.05
    # the sample's check-in judgements: no more members than were read, judged against the
    # planted members among them
    assert metrics["check_in.members"] <= metrics["study.learners"]
    assert metrics["check_in.planted"] <= metrics["study.learners"]
    assert metrics["check_in.recall"] > 0.5 or metrics["check_in.planted"] == 0


def test_every_member_judged_a_bucket_at_a_time_is_one_detection(settings: Settings) -> None:
    with open_training_snapshot(settings, quiet=True) as data:
        path = data.path
        counts = queries.answer_counts(data)
        events = sort_events(build_events(data))
    model = MasteryModel(n_estimators=10, min_data_in_leaf=20).fit(events)
    window = (events[TIMESTAMP].min(), events[TIMESTAMP].max() + pd.Timedelta(seconds=1))
    whole = detect_check_in(events, model=model, start=window[0], end=window[1])
    small = counts.assign(answers=counts["answers"] * 100)  # many buckets on a small world
    buckets = judge_every_member(settings, path, small, model, window, quiet=True)
    # the same members in the same order (most suspicious first), the same judgements
    assert buckets["member_key"].astype(str).tolist() == whole["member_key"].astype(str).tolist()
    for column in ("flagged", "answers"):
        assert buckets[column].tolist() == whole[column].tolist()
    for column in ("logged_minutes", "mastery_gain", "check_in_score"):
        np.testing.assert_allclose(
            buckets[column].to_numpy(dtype=float),
            whole[column].to_numpy(dtype=float),
            rtol=0,
            atol=1e-12,
        )


def test_recommender_evaluation_on_a_sample_is_the_full_one_restricted(
    small_learning_data: LearningData,
) -> None:
    data = small_learning_data
    events = data.events()
    mastery = MasteryModel(n_estimators=20, min_data_in_leaf=20).fit(
        events[events[TIMESTAMP] < pd.Timestamp(CUT)]
    )
    recommender = StudyRecommender(n_estimators=10, min_data_in_leaf=10, learning_weight=0.0)
    recommender.fit(data, default_cuts(CUT, months=1), mastery=mastery)
    keys = data.members["member_key"].astype(str).tolist()
    sample = training_members(keys, len(keys) // 3, seed=1)
    assert sample is not None
    end = datetime(2026, 1, 1)
    full = recommender.snapshot_at(data, CUT)
    part = recommender.snapshot_at(data, CUT, profiled=sample)
    assert model_lists(recommender, part, k=K, members=sample) == {
        key: items
        for key, items in model_lists(recommender, full, k=K).items()
        if key in set(sample)
    }
    metrics = evaluate(recommender, data, part, end=end, baseline_days=90, members=sample)
    assert metrics["evaluation.members"] == len(sample)
    relevant = relevant_items(data, full, end)
    theirs = {key: items for key, items in relevant.items() if key in set(sample)}
    assert relevant_items(data, part, end, sample) == theirs
    expected = ranking_report(
        model_lists(recommender, full, k=K, members=sample),
        theirs,
        k=K,
        catalogue_size=len(full.items),
        item_users={},
        n_users=1,
    )
    assert metrics[f"model.ndcg@{K}"] == pytest.approx(expected[f"ndcg@{K}"], abs=1e-12)
    assert metrics[f"model.ndcg@{K}_se"] > 0
    assert isinstance(part, Snapshot)


POPULATION = (
    "recent_popularity",
    "role_popularity",
    "item_users",
    "cooccurrence_weights",
    "ease_weights",
    "role_format_share",
    "engagement",
)


def test_population_of_members_not_held_comes_from_the_store(small_store: Store) -> None:
    """Statements read for some members only: everyone else's launches and completions,
    study minutes and baseline launches are aggregates over the store, and the snapshot's
    launch matrices and population equal those of a read of every statement."""
    full = LearningData.from_store(small_store)
    keys = sorted(full.members["member_key"].astype(str))
    held = keys[::5]
    some = LearningData.from_store(small_store, members=held)
    assert some.outside is not None
    assert full.outside is None
    assert set(some.statements["member_key"].astype(str)) <= set(held)
    assert len(some.statements) < len(full.statements) / 3
    events = full.events()
    mastery = MasteryModel(n_estimators=20, min_data_in_leaf=20).fit(
        events[events[TIMESTAMP] < pd.Timestamp(CUT)]
    )
    moments = [(CUT, None), (CUT - pd.Timedelta(days=45), CUT - pd.Timedelta(days=30))]
    for as_of, before in moments:
        whole = full if before is None else full.before(before)
        part = some if before is None else some.before(before)
        a = Snapshot.build(whole, as_of, mastery=mastery, profiled=held)
        b = Snapshot.build(part, as_of, mastery=mastery, profiled=held)
        for name in ("launched", "ever_launched", "completed"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        for name in POPULATION:
            np.testing.assert_array_equal(
                getattr(a.population, name), getattr(b.population, name), err_msg=name
            )
        assert a.population.check_in_source == "detect_check_in"
        assert b.population.check_in_minutes == pytest.approx(
            a.population.check_in_minutes, rel=1e-12
        )
        rows = [a.member_index[key] for key in held]
        np.testing.assert_array_equal(a.check_in[rows], b.check_in[rows])
        np.testing.assert_array_equal(a.p_correct[rows], b.p_correct[rows])
        assert baseline_lists(whole, a, days=90, k=K, members=held) == baseline_lists(
            part, b, days=90, k=K, members=held
        )
