"""The study trainings' bounded training sets on the small demo world: the mastery booster's
row budget samples whole learners, the ranker's member budget samples members whose rows
equal those of a build of everyone, and a snapshot that profiles some members gives them
the full build's rows."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from features.learning.data import LearningData
from features.learning.kt_features import KIND, MEMBER, RESPONSE
from features.learning.snapshot import Snapshot
from models.learning.mastery import MasteryModel, seeded_order, training_learners
from models.learning.recommender import (
    StudyRecommender,
    candidate_frame,
    default_cuts,
    training_members,
)

CUT = datetime(2025, 12, 1)


@pytest.fixture(scope="module")
def data(small_learning_data: LearningData) -> LearningData:
    return small_learning_data


@pytest.fixture(scope="module")
def past(data: LearningData) -> pd.DataFrame:
    events = data.events()
    return events[events["timestamp"] < pd.Timestamp(CUT)]


@pytest.fixture(scope="module")
def mastery(past: pd.DataFrame) -> MasteryModel:
    return MasteryModel(n_estimators=30, min_data_in_leaf=20).fit(past)


def test_seeded_order_does_not_depend_on_the_other_keys() -> None:
    keys = np.array([f"member-{i}" for i in range(50)], dtype=object)
    order = keys[seeded_order(keys, 3)]
    fewer = keys[::2]
    assert list(fewer[seeded_order(fewer, 3)]) == [k for k in order if k in set(fewer)]
    assert list(keys[seeded_order(keys, 4)]) != list(order)


def test_training_learners_take_whole_learners_within_the_budget(past: pd.DataFrame) -> None:
    responses = past.loc[past[KIND] == RESPONSE, MEMBER]
    assert training_learners(responses, len(responses)) is None
    assert training_learners(responses, None) is None
    budget = len(responses) // 3
    chosen = training_learners(responses, budget)
    assert chosen is not None
    per_learner = responses.astype(str).value_counts()
    kept = int(per_learner[sorted(chosen)].sum())
    assert kept <= budget
    # the next learner in the hash order would not have fitted
    assert kept > budget - per_learner.max()
    assert training_learners(responses.sample(frac=1.0, random_state=1), budget) == chosen


def test_mastery_booster_trains_on_the_sampled_learners(
    past: pd.DataFrame, mastery: MasteryModel
) -> None:
    responses = past.loc[past[KIND] == RESPONSE, MEMBER]
    assert mastery.metadata_["booster_rows"] == len(responses)
    budget = len(responses) // 3
    small = MasteryModel(n_estimators=30, min_data_in_leaf=20, max_training_rows=budget).fit(past)
    chosen = training_learners(responses, budget, seed=small.seed)
    assert chosen is not None
    assert small.metadata_["booster_learners"] == len(chosen)
    assert small.metadata_["booster_rows"] == int(responses.astype(str).isin(chosen).sum())
    # difficulty still reads every training response
    assert small.difficulty_.to_dict() == mastery.difficulty_.to_dict()
    scores = small.predict_next(past)
    assert scores.between(0, 1).all()
    assert scores.std() > 0


def test_profiled_members_get_the_full_build_rows(
    data: LearningData, mastery: MasteryModel
) -> None:
    full = Snapshot.build(data, CUT, mastery=mastery)
    keys = full.member_keys
    some = [keys[i] for i in seeded_order(np.array(keys, dtype=object), 0)[: len(keys) // 4]]
    part = Snapshot.build(data, CUT, mastery=mastery, profiled=some)
    rows = np.sort([full.member_index[key] for key in some])
    assert part.population.check_in_minutes == full.population.check_in_minutes
    for name in ("p_correct", "attempts", "days_since_practised", "check_in", "launched"):
        np.testing.assert_array_equal(getattr(part, name)[rows], getattr(full, name)[rows])
    np.testing.assert_array_equal(part.population.ease_weights, full.population.ease_weights)
    whole = candidate_frame(full, rows=rows)
    sampled = candidate_frame(part, rows=rows)
    pd.testing.assert_frame_equal(sampled.features, whole.features)
    assert full.check_in.any()


def test_ranker_trains_on_at_most_the_member_budget(
    data: LearningData, mastery: MasteryModel
) -> None:
    keys = data.members[MEMBER].astype(str).tolist()
    assert training_members(keys, len(keys)) is None
    budget = len(keys) // 2
    chosen = training_members(keys, budget, seed=0)
    assert chosen is not None
    assert len(chosen) == budget
    assert chosen == sorted(chosen)
    cuts = default_cuts(CUT, months=1)
    everyone = StudyRecommender(n_estimators=5, max_training_members=None)
    sampled = StudyRecommender(n_estimators=5, max_training_members=budget)
    rows_all = list(everyone.training_chunks(data, cuts, mastery=mastery))
    rows_some = list(sampled.training_chunks(data, cuts, mastery=mastery))
    full = np.concatenate([chunk[0] for chunk in rows_all])
    some = np.concatenate([chunk[0] for chunk in rows_some])
    groups_all = [size for chunk in rows_all for size in chunk[2]]
    groups_some = [size for chunk in rows_some for size in chunk[2]]
    assert 0 < len(groups_some) < len(groups_all)
    assert 0 < len(some) < len(full)
    # every sampled member's rows are rows of the build of everyone
    full_rows = {row.tobytes() for row in full}
    assert all(row.tobytes() in full_rows for row in some)


def test_stand_in_profiled_members_get_the_full_build_rows(data: LearningData) -> None:
    full = Snapshot.build(data, CUT)
    keys = full.member_keys
    some = [keys[i] for i in seeded_order(np.array(keys, dtype=object), 1)[: len(keys) // 4]]
    part = Snapshot.build(data, CUT, profiled=some)
    assert part.extras["mastery"] == "stand-in"
    rows = np.sort([full.member_index[key] for key in some])
    for name in ("p_correct", "attempts", "days_since_practised"):
        np.testing.assert_array_equal(getattr(part, name)[rows], getattr(full, name)[rows])
    others = np.setdiff1d(np.arange(len(keys)), rows)
    assert (part.p_correct[others] == 0.5).all()
