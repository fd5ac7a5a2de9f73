"""The recommender job's sampled simulation policies on the small demo world: a sample of
members gets the suggestions the full policies give them (no learning-value term, whose
scale is the one thing taken over the ranked members)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from features.learning.data import LearningData
from features.learning.snapshot import Snapshot
from models.learning.mastery import MasteryModel, seeded_order
from models.learning.recommender import StudyRecommender, default_cuts
from training.recommender import SampledPolicy, SampledPopularity
from world.simulate import popularity_policy, recommender_policy

CUT = datetime(2025, 12, 1)


@pytest.fixture(scope="module")
def data(small_learning_data: LearningData) -> LearningData:
    return small_learning_data


@pytest.fixture(scope="module")
def recommender(data: LearningData) -> StudyRecommender:
    events = data.events()
    mastery = MasteryModel(n_estimators=20, min_data_in_leaf=20).fit(
        events[events["timestamp"] < pd.Timestamp(CUT)]
    )
    model = StudyRecommender(n_estimators=10, min_data_in_leaf=10, learning_weight=0.0)
    return model.fit(data, default_cuts(CUT, months=1), mastery=mastery)


def _sample(data: LearningData) -> list[str]:
    keys = np.array(sorted(data.members["member_key"].astype(str)), dtype=object)
    return sorted(keys[seeded_order(keys, 0)[: len(keys) // 3]].tolist())


def test_sampled_recommender_policy_gives_the_full_suggestions(
    data: LearningData, recommender: StudyRecommender
) -> None:
    members = _sample(data)
    full = recommender_policy(recommender)
    sampled = SampledPolicy(recommender, members)
    everyone = full(full.snapshot(data, CUT), 3)
    some = sampled(sampled.snapshot(data, CUT), 3)
    assert sorted(some) == members
    assert {key: everyone[key] for key in members} == some
    assert any(some.values())


def test_sampled_popularity_policy_gives_the_full_suggestions(data: LearningData) -> None:
    members = _sample(data)
    sampled = SampledPopularity(members)
    everyone = popularity_policy(Snapshot.build(data, CUT), 3)
    some = sampled(sampled.snapshot(data, CUT), 3)
    assert {key: everyone[key] for key in members} == {key: some[key] for key in members}
