"""Fitting the risk model: booster, calibrator, isolation forest, thresholds, drift reference."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from features.procurement.specs import CATEGORICAL_FEATURES, FEATURES
from models.drift import DriftReference
from models.procurement.alerts import DECISION_DATE
from models.procurement.model import (
    FeatureEncoder,
    IsolationScorer,
    PlattCalibrator,
    RiskModel,
    build_calibrator,
    choose_thresholds,
)
from training.boosting import BoosterFitter, local_booster
from training.procurement_risk.labels import LABEL
from training.procurement_risk.options import TrainingError, TrainingOptions


def training_categories(frame: pd.DataFrame) -> dict[str, list[str]]:
    return {
        column: sorted(frame[column].dropna().astype(str).unique().tolist())
        for column in CATEGORICAL_FEATURES
    }


def fit_risk_model(
    labelled: pd.DataFrame,
    options: TrainingOptions,
    *,
    fit_booster: BoosterFitter = local_booster,
) -> RiskModel:
    """Fit booster (``fit_booster``), calibrator, isolation forest and thresholds on the
    train and calibration parts of ``labelled`` (as returned by ``attach_labels``)."""
    feature_names = list(FEATURES)
    train = labelled[labelled["part"] == "train"]
    calibration = labelled[labelled["part"] == "calibration"]
    train_labelled = train[train[LABEL].notna()]
    if train_labelled[LABEL].nunique() < 2:
        raise TrainingError("the training months hold fewer than two label classes")
    if calibration.empty:
        raise TrainingError("the calibration months hold no process")

    categories = training_categories(train)
    encoder = FeatureEncoder(feature_names=feature_names, categories=categories)
    x_train = encoder.matrix(train_labelled)
    categorical_index = [feature_names.index(c) for c in CATEGORICAL_FEATURES]
    booster = fit_booster(
        x_train,
        train_labelled[LABEL].to_numpy(dtype=float),
        feature_names=feature_names,
        categorical_index=categorical_index,
        params=options.lightgbm_params(feature_names),
        rounds=options.n_estimators,
    )

    calibration_labelled = calibration[calibration[LABEL].notna()]
    raw_calibration = booster.predict(encoder.matrix(calibration_labelled), raw_score=True)
    calibration_note: str = options.calibration
    try:
        calibrator = build_calibrator(options.calibration).fit(
            raw_calibration, calibration_labelled[LABEL].to_numpy(dtype=int)
        )
    except ValueError as error:
        calibrator = PlattCalibrator.identity()
        calibration_note = f"none ({error}); LightGBM's own probability"

    numeric_index = [j for j, name in enumerate(feature_names) if name not in categories]
    anomaly = IsolationScorer(seed=options.seed).fit(encoder.matrix(train), columns=numeric_index)

    raw_all_calibration = booster.predict(encoder.matrix(calibration), raw_score=True)
    thresholds = choose_thresholds(
        calibrator.transform(raw_all_calibration),
        calibration[DECISION_DATE].dt.to_period("M").astype(str).to_numpy(),
        review_capacity=options.review_capacity,
    )
    return RiskModel(
        booster=booster,
        feature_names=feature_names,
        categories=categories,
        calibrator=calibrator,
        thresholds=thresholds,
        anomaly=anomaly,
        metadata={
            "review_capacity": options.review_capacity,
            "calibration": calibration_note,
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )


def drift_reference(model: RiskModel, labelled: pd.DataFrame) -> DriftReference:
    """The binned model inputs and calibrated probability of every process of the
    calibration months (labelled or not): the months just before the test months, and rows
    the booster was not fitted on, so the score's spread is what live traffic would show."""
    calibration = labelled[labelled["part"] == "calibration"]
    probability = model.calibrator.transform(model.raw_score_matrix(model.matrix(calibration)))
    return DriftReference.from_frame(
        calibration,
        probability,
        features=model.feature_names,
        categorical=list(model.categories),
        part="calibration",
    )
