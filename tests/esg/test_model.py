"""The ESG model: behaviour (monotone, invariance, unknown), SHAP additivity, persistence."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from features.esg.build import supplier_features
from features.esg.history import SupplierHistory
from features.esg.specs import FEATURE_NAMES, HAS_ANY_HISTORY, MODEL_FEATURES, MONOTONE_CONSTRAINTS
from models.calibration import PlattCalibrator
from models.esg.model import EsgModel, band_of

AS_OF = date(2024, 1, 1)


def synthetic_model() -> EsgModel:
    """A small monotone model on synthetic rows where penalties and accidents raise risk."""
    rng = np.random.default_rng(0)
    n = 3_000
    x = np.zeros((n, len(MODEL_FEATURES)))
    for j, _name in enumerate(MODEL_FEATURES):
        x[:, j] = rng.poisson(0.5, n)
    risk = (
        x[:, MODEL_FEATURES.index("env_penalty_count_36m")]
        + x[:, MODEL_FEATURES.index("safety_accident_count_36m")]
        - x[:, MODEL_FEATURES.index("iso14001_valid")]
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-(risk - 1.5)))).astype(float)
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": 0,
              "monotone_constraints": MONOTONE_CONSTRAINTS, "num_threads": 1}  # fmt: skip
    booster = lgb.train(params, lgb.Dataset(x, y, feature_name=MODEL_FEATURES), 40)
    raw = booster.predict(x, raw_score=True)
    return EsgModel(booster=booster, calibrator=PlattCalibrator().fit(raw, y))


@pytest.fixture(scope="module")
def model() -> EsgModel:
    return synthetic_model()


def _history(events: list[dict], supplier: str = "S1") -> SupplierHistory:
    register = pd.DataFrame(
        [{"supplier_id": supplier, "categories": ["M13"], "tax_credit_grade": "B",
          "reported_emission_intensity": None, "registered_on": date(2020, 1, 1)}]
    )  # fmt: skip
    certs = pd.DataFrame(
        [{"supplier_id": supplier, "cert_type": "ISO9001", "cert_no": "Q1", "category": None,
          "valid_from": date(2022, 1, 1), "valid_to": date(2026, 1, 1),
          "evidence_document": "Q1.pdf"}]
    )  # fmt: skip
    frame = pd.DataFrame([{**e, "supplier_id": supplier} for e in events])
    return SupplierHistory.from_frames(
        {"suppliers": register, "supplier_certifications": certs, "supplier_events": frame},
        category_factors={"M13": 0.15},
    )


def _penalty(i: int, severity: str = "serious") -> dict:
    return {"event_id": f"E{i}", "event_type": "env_penalty", "event_date": date(2023, 1 + i, 1),
            "severity": severity, "deaths": 0, "fine_cny": 100_000.0, "listed_until": None,
            "evidence_document": f"P{i}.pdf"}  # fmt: skip


def test_contributions_sum_to_the_raw_score(model: EsgModel) -> None:
    history = _history([_penalty(0), _penalty(1)])
    frame = supplier_features(history, ["S1"], AS_OF)
    contributions = model.contributions_matrix(model.matrix(frame))
    raw = model.raw_score_matrix(model.matrix(frame))
    np.testing.assert_allclose(contributions.sum(axis=1), raw, atol=1e-9)
    (assessment,) = model.assess(frame, k=3, history=history)
    assert assessment.raw_score == pytest.approx(raw[0])
    assert assessment.score == pytest.approx(100 * model.calibrator.transform(raw)[0])
    assert set(assessment.pillars) == {"E", "S", "G"}
    assert all(0 <= v <= 100 for v in assessment.pillars.values())
    penalty_reasons = [r for r in assessment.reasons if r.feature.startswith("env_penalty")]
    assert penalty_reasons
    assert penalty_reasons[0].evidence == "P1.pdf"
    assert penalty_reasons[0].evidence_date == date(2023, 2, 1)
    assert penalty_reasons[0].improvement_zh
    assert assessment.as_dict()["reasons"][0]["sentence_zh"]


def test_bands_are_fixed_probabilities() -> None:
    assert [band_of(s) for s in (0, 9.99, 10, 25, 30, 39.9, 40, 100)] == [
        "negligible", "negligible", "low", "medium", "high", "high", "severe", "severe",
    ]  # fmt: skip


def test_save_and_load_give_the_same_scores(model: EsgModel, tmp_path: Path) -> None:
    history = _history([_penalty(0)])
    frame = supplier_features(history, ["S1"], AS_OF)
    loaded = EsgModel.load(model.save(tmp_path / "m"))
    np.testing.assert_allclose(loaded.score(frame), model.score(frame))
    assert set(FEATURE_NAMES) - set(MODEL_FEATURES) == {HAS_ANY_HISTORY}
