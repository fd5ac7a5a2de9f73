"""The shared MLflow plumbing (registration, champion gate) on a real SQLite MLflow registry;
data versions and storable metrics."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PythonModel

from training.tracking import (
    CHALLENGER,
    CHAMPION,
    ChampionCannotScoreError,
    artifact_location,
    compare_with_champion,
    experiment_id,
    finite_metrics,
    frame_digest,
    record_gate,
    register_challenger,
)


class _Constant(PythonModel):
    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.Series:
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


class _FileModel:
    """A model that saves itself as one text file (what ``register_challenger`` needs)."""

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True)
        (folder / "model.txt").write_text("constant 0.5", encoding="utf-8")
        return folder


def _alias(client: mlflow.MlflowClient, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias("gate-test", alias).version)
    except MlflowException:
        return None


def test_register_and_record_the_gate(registry: mlflow.MlflowClient, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with mlflow.start_run(experiment_id=experiment_id("gate-test", uri)) as run:
        version = register_challenger(
            registry,
            "gate-test",
            _FileModel(),
            _Constant(),
            artifact_key="constant",
            packages=("mlflow",),
        )
        assert (version, _alias(registry, CHALLENGER)) == ("2", "2")
        loaded = mlflow.pyfunc.load_model(f"models:/gate-test/{version}")
        assert loaded.predict(pd.DataFrame({"x": [1.0, 2.0]})).tolist() == [0.5, 0.5]
        tie = compare_with_champion(registry, "gate-test", 0.7, lambda _: 0.7)
        record_gate(registry, "gate-test", version, tie, metric_key="auc")
    assert (_alias(registry, CHAMPION), _alias(registry, CHALLENGER)) == ("1", "2")
    logged = registry.get_run(run.info.run_id).data
    assert logged.tags["gate.decision"] == "not promoted"
    assert logged.tags["gate.champion_version"] == "1"
    assert logged.metrics == {"gate.challenger_auc": 0.7, "gate.champion_auc": 0.7}
    assert registry.get_model_version("gate-test", version).tags["gate.reason"] == tie.reason

    with mlflow.start_run(experiment_id=experiment_id("gate-test", uri)) as run:
        better = compare_with_champion(registry, "gate-test", 0.9, lambda _: 0.7)
        record_gate(registry, "gate-test", version, better)
    assert (_alias(registry, CHAMPION), _alias(registry, CHALLENGER)) == ("2", None)
    logged = registry.get_run(run.info.run_id).data
    assert logged.tags["gate.decision"] == "promoted"
    assert logged.metrics == {}  # no metric_key: no gate metrics


def test_frame_digest_follows_values_and_order_not_the_index() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", None]})
    assert frame_digest(frame) == frame_digest(frame.set_axis([10, 11]))
    assert frame_digest(frame) != frame_digest(frame.iloc[::-1])
    assert frame_digest(frame) != frame_digest(frame.assign(a=[1, 3]))
    assert len(frame_digest(frame)) == 64


def test_finite_metrics_leave_out_what_mlflow_cannot_store() -> None:
    metrics = {"auc": 0.7, "nan": math.nan, "inf": math.inf, "count": 3}
    assert finite_metrics(metrics) == {"auc": 0.7, "count": 3.0}
