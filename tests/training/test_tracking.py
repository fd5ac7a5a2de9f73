"""The shared champion gate on a real SQLite MLflow registry."""

from __future__ import annotations

import math
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.pyfunc import PythonModel

from training.tracking import (
    CHAMPION,
    ChampionCannotScoreError,
    artifact_location,
    compare_with_champion,
    experiment_id,
)


class _Constant(PythonModel):
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return pd.Series([0.5] * len(model_input))


@pytest.fixture
def registry(tmp_path: Path) -> mlflow.MlflowClient:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    assert artifact_location(uri) == (tmp_path / "mlartifacts").as_uri()
    with mlflow.start_run(experiment_id=experiment_id("gate-test", uri)):
        mlflow.pyfunc.log_model(
            name="model",
            python_model=_Constant(),
            registered_model_name="gate-test",
            pip_requirements=["mlflow"],
        )
    client = mlflow.MlflowClient(uri)
    client.set_registered_model_alias("gate-test", CHAMPION, "1")
    return client


def test_no_champion_means_promotion(registry: mlflow.MlflowClient) -> None:
    decision = compare_with_champion(registry, "other-model", 0.4, lambda _: 0.9)
    assert decision.promoted
    assert decision.reason == "no champion yet"


def test_gate_compares_on_the_same_rows(registry: mlflow.MlflowClient) -> None:
    better = compare_with_champion(registry, "gate-test", 0.80, lambda _: 0.70)
    tie = compare_with_champion(registry, "gate-test", 0.70, lambda _: 0.70)
    small = compare_with_champion(
        registry, "gate-test", 0.705, lambda _: 0.70, min_improvement=0.01
    )
    assert better.promoted
    assert better.champion_version == "1"
    assert not tie.promoted
    assert not small.promoted
    assert "does not beat" in small.reason


def test_champion_that_cannot_score_is_replaced(registry: mlflow.MlflowClient) -> None:
    def broken(_: object) -> float:
        raise ChampionCannotScoreError("feature 'x' missing")

    decision = compare_with_champion(registry, "gate-test", 0.1, broken)
    assert decision.promoted
    assert "cannot score" in decision.reason
    assert math.isnan(decision.champion_metric)


def test_no_positive_label_never_promotes(registry: mlflow.MlflowClient) -> None:
    decision = compare_with_champion(registry, "gate-test", math.nan, lambda _: 0.5)
    assert not decision.promoted
