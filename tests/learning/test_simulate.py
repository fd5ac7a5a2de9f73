"""Learning-gain simulation on the small world: deterministic, and the recommender helps."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.security import PersonalData
from core.settings import Settings
from features.learning.data import LearningData
from models.learning.recommender import StudyRecommender, default_cuts
from store.database import Store
from training.recommender import RecommenderOptions
from world.simulate import (
    Policy,
    latent_from_truth,
    paired_comparison,
    popularity_policy,
    recommender_policy,
    simulate_learning_gain,
)

CUT = datetime(2025, 12, 1)


@pytest.fixture(scope="module")
def setup(small_installation: dict[str, str]) -> tuple[LearningData, Settings]:
    settings = Settings(
        data_dir=Path(small_installation["LODESTAR_DATA_DIR"]),
        key_file=Path(small_installation["LODESTAR_KEY_FILE"]),
    )
    with Store.open(settings, settings.keyring(), read_only=True) as store:
        return LearningData.from_store(store), settings


def test_paired_comparison_by_hand() -> None:
    result = paired_comparison(np.array([1.0, 2.0, 3.0]), np.array([0.0, 2.0, 1.0]))
    assert result["mean_difference"] == pytest.approx(1.0)
    assert result["share_better"] == pytest.approx(2 / 3)
    assert result["se"] == pytest.approx(1.0 / np.sqrt(3))


LEARNING_WEIGHT = RecommenderOptions().learning_weight  # the training job's default
SEEDS = (0, 1)


@pytest.fixture(scope="module")
def simulation(setup: tuple[LearningData, Settings]) -> tuple[dict[int, Any], Any]:
    data, settings = setup
    latent = latent_from_truth(
        settings.resolved_truth_dir, PersonalData(settings.keyring()).member_key, "2025-11"
    )
    model = StudyRecommender(
        n_estimators=30, min_data_in_leaf=10, learning_weight=LEARNING_WEIGHT
    ).fit(data, default_cuts(CUT))
    assert model.mastery_ is not None  # the policy reads the real mastery model
    policies: dict[str, Policy] = {
        "model": recommender_policy(model),
        "popularity": popularity_policy,
    }
    runs = {
        seed: simulate_learning_gain(data, latent, policies, start=CUT, weeks=4, seed=seed)
        for seed in SEEDS
    }
    again = simulate_learning_gain(data, latent, policies, start=CUT, weeks=4, seed=SEEDS[0])
    return runs, again


def test_simulation_is_deterministic_and_members_gain(simulation: tuple) -> None:
    runs, again = simulation
    assert runs[SEEDS[0]].summary == again.summary
    for run in runs.values():
        assert run.summary["model.mean_gain"] > 0
        assert run.summary["popularity.mean_gain"] > 0


def test_recommender_gains_more_than_popularity_on_the_small_world(simulation: tuple) -> None:
    """Following the recommender's top three (ranker + learning value at the training job's
    default weight, 0.5) teaches more than following popularity, for every seed of the
    answers drawn, paired over members (observed: about 0.029 against 0.023, paired t about
    8; with weight 0, the ranker alone, 0.021 against 0.023: it loses)."""
    runs, _ = simulation
    for run in runs.values():
        summary = run.summary
        assert summary["model.mean_gain"] > summary["popularity.mean_gain"]
        assert summary["model_vs_popularity.t"] > 3.0
        assert summary["model_vs_popularity.share_better"] > 0.5
