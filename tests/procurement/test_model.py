"""RiskModel on a synthetic feature frame: explanations, calibration, categories, persistence."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest

from features.procurement.specs import CATEGORICAL_FEATURES, FEATURES
from models.calibration import IsotonicCalibrator, PlattCalibrator
from models.procurement.anomaly import IsolationScorer
from models.procurement.encoding import FeatureEncoder, FeatureFrameError
from models.procurement.model import NO_WARNING, RiskModel, choose_thresholds

PRICE = "unit_price_to_category_median_180d"
METHODS = ["open", "selective", "limited", "direct"]
CATEGORIES = ["M01", "M02", "M03"]


def synthetic_frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Every feature column (numbers with some NaN, categories as text) and 0/1 labels that
    depend on the price ratio, the red-flag count and the procurement method."""
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {}
    for name in FEATURES:
        values = rng.normal(size=n)
        values[rng.random(n) < 0.05] = np.nan
        columns[name] = values
    columns["procurement_method"] = pd.array(rng.choice(METHODS, n), dtype="string")
    columns["material_category"] = pd.array(rng.choice(CATEGORIES, n), dtype="string")
    columns[PRICE] = rng.lognormal(0.0, 0.3, n)
    columns["red_flag_count"] = rng.poisson(0.5, n).astype(float)
    frame = pd.DataFrame(columns)
    logit = (
        -2.5
        + 3.0 * (frame[PRICE] - 1.0)
        + 0.8 * frame["red_flag_count"]
        + 1.0 * (frame["procurement_method"] == "direct").astype(float)
    )
    labels = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, labels


def fit_model(frame: pd.DataFrame, labels: np.ndarray, *, calibrator: str = "platt") -> RiskModel:
    names = list(FEATURES)
    categories = {c: sorted(frame[c].dropna().unique().tolist()) for c in CATEGORICAL_FEATURES}
    encoder = FeatureEncoder(feature_names=names, categories=categories)
    matrix = encoder.matrix(frame)
    half = len(frame) // 2
    booster = lgb.train(
        {
            "objective": "binary",
            "num_leaves": 7,
            "learning_rate": 0.1,
            "min_data_in_leaf": 10,
            "monotone_constraints": [1 if n == PRICE else 0 for n in names],
            "verbose": -1,
            "num_threads": 1,
            "deterministic": True,
        },
        lgb.Dataset(
            matrix[:half],
            label=labels[:half],
            feature_name=names,
            categorical_feature=[names.index(c) for c in CATEGORICAL_FEATURES],
        ),
        num_boost_round=30,
    )
    raw = booster.predict(matrix[half:], raw_score=True)
    fitted = (PlattCalibrator() if calibrator == "platt" else IsotonicCalibrator()).fit(
        raw, labels[half:]
    )
    numeric = [j for j, n in enumerate(names) if n not in categories]
    anomaly = IsolationScorer(n_estimators=20, seed=0).fit(matrix[:half], columns=numeric)
    thresholds = choose_thresholds(fitted.transform(raw), np.zeros(len(raw)), review_capacity=0.03)
    return RiskModel(
        booster=booster,
        feature_names=names,
        categories=categories,
        calibrator=fitted,
        thresholds=thresholds,
        anomaly=anomaly,
    )


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return synthetic_frame(1_200, seed=1)


@pytest.fixture(scope="module")
def model(data: tuple[pd.DataFrame, np.ndarray]) -> RiskModel:
    return fit_model(*data)


def test_contributions_sum_to_raw_score(model: RiskModel, data: tuple) -> None:
    frame = data[0].head(300)
    contributions = model.contributions(frame)
    assert contributions.shape == (300, len(FEATURES) + 1)
    assert np.allclose(contributions.sum(axis=1), model.raw_score(frame))


def test_contributions_match_shap_tree_explainer(model: RiskModel, data: tuple) -> None:
    import shap

    frame = data[0].head(50)
    values = shap.TreeExplainer(model.booster).shap_values(model.matrix(frame))
    values = values[-1] if isinstance(values, list) else values
    assert np.allclose(values, model.contributions(frame)[:, :-1])


@pytest.mark.parametrize("kind", ["platt", "isotonic"])
def test_calibrated_probability_is_bounded_and_monotone(data: tuple, kind: str) -> None:
    model = fit_model(*data, calibrator=kind)
    raw = np.linspace(-15, 15, 2_001)
    probability = model.calibrator.transform(raw)
    assert ((probability >= 0) & (probability <= 1)).all()
    assert (np.diff(probability) >= 0).all()
    frame_probability = model.predict_proba(data[0])
    order = np.argsort(model.raw_score(data[0]))
    assert (np.diff(frame_probability[order]) >= -1e-12).all()


def test_platt_refuses_one_class() -> None:
    with pytest.raises(ValueError, match="both classes"):
        PlattCalibrator().fit([0.1, 0.2], [0, 0])


def test_unseen_category_is_missing_and_reported(
    model: RiskModel, data: tuple, caplog: pytest.LogCaptureFixture
) -> None:
    frame = data[0].head(3).copy()
    unseen = frame.copy()
    unseen["material_category"] = pd.array(["M99", "M01", None], dtype="string")
    missing = frame.copy()
    missing["material_category"] = pd.array([None, "M01", None], dtype="string")

    assert model.unseen_categories(unseen) == {"material_category": ["M99"]}
    with caplog.at_level(logging.WARNING, logger="models.procurement.encoding"):
        prepared = model.prepare(unseen)
    assert "M99" in caplog.text
    assert prepared["material_category"].isna().tolist() == [True, False, True]
    assert list(prepared["material_category"].cat.categories) == CATEGORIES
    # an unseen value scores exactly like a missing one, never like some other category
    assert np.array_equal(model.raw_score(unseen), model.raw_score(missing))


def test_string_and_object_categories_score_alike(model: RiskModel, data: tuple) -> None:
    frame = data[0].head(100)
    as_object = frame.astype(dict.fromkeys(CATEGORICAL_FEATURES, object))
    as_category = frame.astype(dict.fromkeys(CATEGORICAL_FEATURES, "category"))
    reference = model.raw_score(frame)
    assert np.array_equal(model.raw_score(as_object), reference)
    assert np.array_equal(model.raw_score(as_category), reference)


def test_bad_frames_are_refused(model: RiskModel, data: tuple) -> None:
    frame = data[0].head(2)
    with pytest.raises(FeatureFrameError, match=PRICE):
        model.predict_proba(frame.drop(columns=[PRICE]))
    with pytest.raises(FeatureFrameError, match="not numeric"):
        model.predict_proba(frame.assign(**{PRICE: ["high", "low"]}))


def test_save_load_round_trip(model: RiskModel, data: tuple, tmp_path: Path) -> None:
    frame = data[0]
    model.save(tmp_path / "model")
    assert json.loads((tmp_path / "model" / "risk_model.json").read_text())["format_version"]
    loaded = RiskModel.load(tmp_path / "model")
    assert np.array_equal(loaded.predict_proba(frame), model.predict_proba(frame))
    assert np.array_equal(loaded.contributions(frame), model.contributions(frame))
    assert np.array_equal(loaded.unsupervised_score(frame), model.unsupervised_score(frame))
    assert loaded.thresholds == model.thresholds
    assert loaded.categories == model.categories


def test_isolation_scorer_equals_sklearn(data: tuple) -> None:
    frame = data[0]
    numeric = [n for n in FEATURES if n not in CATEGORICAL_FEATURES]
    matrix = frame[numeric].to_numpy(dtype=float)
    scorer = IsolationScorer(n_estimators=30, max_samples=128, seed=3).fit(
        matrix, columns=range(len(numeric))
    )
    filled = np.where(np.isnan(matrix), scorer.medians_, matrix)
    forest = IsolationForest(n_estimators=30, max_samples=128, random_state=3).fit(filled)
    ours = scorer.score(matrix)
    assert ((ours > 0) & (ours < 1)).all()
    assert np.allclose(ours, -forest.score_samples(filled))


def test_choose_thresholds_hits_the_capacity_per_month() -> None:
    probability = np.concatenate([np.arange(300) / 300, np.arange(300) / 600])
    months = np.repeat(["2025-09", "2025-10"], 300)
    thresholds = choose_thresholds(probability, months, review_capacity=0.03)
    assert thresholds["red"] >= thresholds["orange"] >= thresholds["yellow"]
    # 3 % of 300 = 9 rows: month one's 9th highest is 291/300, month two's 291/600
    assert thresholds["orange"] == pytest.approx((291 / 300 + 291 / 600) / 2)
    with pytest.raises(ValueError, match="share"):
        choose_thresholds(probability, months, review_capacity=3)


def test_warning_levels(model: RiskModel) -> None:
    t = model.thresholds
    levels = model.warning_level([1.0, t["red"], t["orange"], t["yellow"], 0.0])
    expected = ["red", "red", "orange", "yellow", NO_WARNING]
    if t["orange"] == t["red"]:
        expected[2] = "red"
    assert levels.tolist() == expected


def test_top_reasons(model: RiskModel, data: tuple) -> None:
    frame = data[0].head(20)
    contributions = model.contributions(frame)
    reasons = model.top_reasons(frame, k=5)
    assert len(reasons) == 20
    for i, row in enumerate(reasons):
        assert 0 < len(row) <= 5
        sizes = [abs(r.contribution) for r in row]
        assert sizes == sorted(sizes, reverse=True)
        top = np.sort(np.abs(contributions[i, :-1]))[::-1][: len(row)]
        assert np.allclose(sizes, top)
        for reason in row:
            assert reason.direction == ("raises" if reason.contribution > 0 else "lowers")
            assert reason.sentence_en
            assert reason.sentence_zh
    price_reasons = [r for row in reasons for r in row if r.feature == PRICE]
    assert price_reasons, "the price ratio drives the labels, so it appears among the reasons"
    reason = price_reasons[0]
    assert reason.sentence_en == FEATURES[PRICE].sentence(reason.value, "en")
    assert reason.sentence_zh == FEATURES[PRICE].sentence(reason.value, "zh")


def test_assess_agrees_with_the_single_methods(model: RiskModel, data: tuple) -> None:
    frame = data[0].head(40)
    assessment = model.assess(frame, k=3)
    assert np.allclose(assessment.probability, model.predict_proba(frame))
    assert np.allclose(assessment.raw_score, model.raw_score(frame))
    assert assessment.warning_level.tolist() == model.warning_level(assessment.probability).tolist()
    assert [len(r) for r in assessment.reasons] == [len(r) for r in model.top_reasons(frame, 3)]
