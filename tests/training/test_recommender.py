"""Training run into a temporary MLflow: evaluated, registered, champion gate."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import mlflow

from core.settings import Settings
from training.recommender import REGISTERED_MODEL, RecommenderOptions, train
from training.tracking import CHAMPION


def test_train_registers_and_gates(small_installation: dict[str, str], tmp_path: Path) -> None:
    settings = Settings(
        data_dir=Path(small_installation["LODESTAR_DATA_DIR"]),
        key_file=Path(small_installation["LODESTAR_KEY_FILE"]),
    )
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    options = RecommenderOptions(cut=datetime(2025, 12, 1), n_estimators=20, sim_weeks=1)
    first = train(settings, options, tracking_uri=uri, quiet=True)
    assert first.gate.promoted
    for name in ("model", "popularity", "cooccurrence", "ease"):
        assert 0.0 <= first.metrics[f"{name}.ndcg@10"] <= 1.0
    assert "gain.model.mean_gain" in first.metrics
    recommender = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}/{first.model_version}")
    assert recommender.unwrap_python_model().recommender.mastery_ is not None
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    champion = client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION)
    assert str(champion.version) == first.model_version

    second = train(settings, options, tracking_uri=uri, quiet=True)
    assert not second.gate.promoted  # the same model ties the champion: a tie keeps it
    assert second.gate.champion_version == first.model_version
    loaded = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}@{CHAMPION}")
    assert loaded.unwrap_python_model().recommender is not None


def test_training_cli_lists_every_job() -> None:
    import importlib

    from training.__main__ import JOBS, main

    assert JOBS["study-recommender"] == "training.recommender"
    assert {"procurement-risk", "collusion", "supplier-esg", "mastery"} <= set(JOBS)
    for module in JOBS.values():
        assert callable(importlib.import_module(module).main)
    assert main([]) == 2
    assert main(["no-such-job"]) == 2
