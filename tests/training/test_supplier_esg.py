"""Supplier ESG training on the small world, into a temporary SQLite MLflow store."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from core.settings import Settings
from features.esg.specs import MODEL_FEATURES, NOT_CRITERIA
from training.supplier_esg import (
    REGISTERED_MODEL,
    TrainingError,
    TrainingOptions,
    band_table,
    bands_rise,
    is_serious_incident,
    scorecard_points,
    train,
)
from training.tracking import CHAMPION

SMALL_OPTIONS = TrainingOptions(n_estimators=40, min_data_in_leaf=5)


def test_training_cuts_may_not_label_with_test_incidents() -> None:
    with pytest.raises(TrainingError, match="label window"):
        TrainingOptions(train_cuts=(date(2024, 7, 1),)).check()


def test_serious_incident_definition() -> None:
    assert is_serious_incident("safety_accident", "general")
    assert is_serious_incident("debarment", "major")
    assert is_serious_incident("env_penalty", "serious")
    assert not is_serious_incident("env_penalty", "minor")
    assert not is_serious_incident("litigation", "major")


def test_band_table_and_rise() -> None:
    labels = np.array([0, 0, 1, 0, 1, 1], dtype=float)
    table = band_table(labels, ["negligible", "negligible", "low", "low", "severe", "unknown"])
    rates = table.set_index("band")["incident_rate"]
    assert rates["negligible"] == 0
    assert rates["low"] == 0.5
    assert rates["severe"] == 1
    assert math.isnan(rates["medium"])
    assert bands_rise(table)
    assert not bands_rise(band_table(labels[:4], ["low", "low", "negligible", "negligible"]))


def test_scorecard_points_by_hand() -> None:
    row = dict.fromkeys(MODEL_FEATURES, 0.0)
    row.update(env_penalty_count_36m=2, iso14001_valid=1, iso45001_valid=0,
               tax_credit_grade_rank=4)  # fmt: skip
    assert scorecard_points(pd.DataFrame([row]))[0] == 2 * 5 + 5 + 10


def test_train_on_the_small_world(small_installation: dict[str, str], tmp_path: Path) -> None:
    settings = Settings(
        data_dir=Path(small_installation["LODESTAR_DATA_DIR"]),
        key_file=Path(small_installation["LODESTAR_KEY_FILE"]),
    )
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = train(settings, SMALL_OPTIONS, tracking_uri=uri, quiet=True)
    for key in ("model.roc_auc", "scorecard.roc_auc", "model.pr_auc", "bands_rise"):
        assert key in result.metrics
    assert result.gate.promoted
    assert result.version == "1"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert str(client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION).version) == "1"
    run = client.get_run(result.run_id)
    assert run.data.params["data_version"] == result.data_version
    assert "model.roc_auc" in run.data.metrics
    loaded = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}@{CHAMPION}")
    model = loaded.unwrap_python_model().esg_model
    assert model.booster.feature_name() == MODEL_FEATURES
    assert not set(NOT_CRITERIA) & set(model.booster.feature_name())
    # a second run on the same data ties: the champion stays
    again = train(settings, SMALL_OPTIONS, tracking_uri=uri, quiet=True)
    assert not again.gate.promoted
    assert str(client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION).version) == "1"
