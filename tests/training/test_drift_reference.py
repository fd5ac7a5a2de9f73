"""The drift reference the supplier-ESG training saves: every model input and the score,
binned on the calibration cut only (the procurement model's is checked on the champion the
service loads, ``tests/serving/test_drift.py``)."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from features.esg.specs import MODEL_FEATURES
from models.calibration import PlattCalibrator
from models.esg.model import EsgModel
from training.supplier_esg import LABEL, PART, drift_reference


def test_esg_reference_bins_the_calibration_cut() -> None:
    rng = np.random.default_rng(0)
    n = 120
    frame = pd.DataFrame({name: rng.poisson(1.0, n).astype(float) for name in MODEL_FEATURES})
    frame[PART] = ["train"] * 80 + ["calibration"] * 40
    frame[LABEL] = rng.integers(0, 2, n)
    train = frame[frame[PART] == "train"]
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5},
        lgb.Dataset(
            train[MODEL_FEATURES].to_numpy(dtype=float),
            label=train[LABEL].to_numpy(dtype=float),
            feature_name=list(MODEL_FEATURES),
        ),
        num_boost_round=3,
    )
    model = EsgModel(booster=booster, calibrator=PlattCalibrator.identity())
    reference = drift_reference(model, frame)
    assert reference.rows == 40
    assert reference.part == "calibration"
    assert reference.feature_names == list(MODEL_FEATURES)
    assert all(bins.kind == "numeric" for bins in reference.features.values())
    calibration = frame[frame[PART] == "calibration"]
    assert reference.score.psi_of(model.predict_proba(calibration)) == pytest.approx(0.0)
