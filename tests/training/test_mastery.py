"""training.mastery on the small world into a temporary SQLite MLflow: registered, champion."""

from __future__ import annotations

import math
from pathlib import Path

import mlflow

from features.settings import Settings
from training.mastery import REGISTERED_MODEL, TrainingOptions, train
from training.tracking import CHAMPION


def test_train_registers_a_champion_and_a_second_run_is_gated(
    small_installation: dict[str, str], tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=Path(small_installation["LODESTAR_DATA_DIR"]),
        key_file=Path(small_installation["LODESTAR_KEY_FILE"]),
    )
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    options = TrainingOptions(n_estimators=40)
    first = train(settings, options, tracking_uri=uri, quiet=True)
    assert first.gate.promoted
    for split in ("time", "learner"):
        assert first.metrics[f"{split}.model.auc"] > 0.6
        assert not math.isnan(first.metrics[f"{split}.baseline.auc"])
    assert "check_in.precision" in first.metrics
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    champion = client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION)
    assert str(champion.version) == first.model_version
    second = train(settings, options, tracking_uri=uri, quiet=True)
    assert not second.gate.promoted  # the same data and seed: a tie keeps the champion
    assert math.isclose(second.gate.champion_metric, second.gate.challenger_metric, rel_tol=1e-9)
    loaded = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}@{CHAMPION}")
    assert loaded.unwrap_python_model().mastery_model is not None
