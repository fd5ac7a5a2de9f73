"""Procurement risk: train, evaluate against two baselines, track in MLflow, gate, batch-score.

One module per stage: ``data`` (the feature frame), ``labels``, ``split``, ``fit``,
``evaluate``, ``plots``, ``register`` (signature and champion gate), ``run`` (the training run
that chains them), ``scoring`` (batch scoring and alert writing) and ``cli``
(``python -m training.procurement_risk train|score``). The names importers use are
re-exported here.
"""

from __future__ import annotations

from training.procurement_risk.cli import main
from training.procurement_risk.data import build_feature_frame, data_version
from training.procurement_risk.evaluate import (
    RED_FLAG_COUNT,
    SCORERS,
    evaluate,
    read_truth,
    red_flag_count,
    scorer_scores,
    summary_table,
)
from training.procurement_risk.fit import drift_reference, fit_risk_model, training_categories
from training.procurement_risk.labels import (
    LABEL,
    LABELLED_AT,
    SCHEME,
    attach_labels,
    labels_from_outcomes,
    read_audit_outcomes,
)
from training.procurement_risk.options import (
    ERRORS,
    EXPERIMENT,
    MONOTONE_INCREASING_FEATURES,
    PIP_PACKAGES,
    REGISTERED_MODEL,
    ScoringError,
    TrainingError,
    TrainingOptions,
)
from training.procurement_risk.plots import plot_precision_recall
from training.procurement_risk.register import champion_gate, signature_frame
from training.procurement_risk.run import TrainResult, train
from training.procurement_risk.scoring import ScoreResult, open_store, score
from training.procurement_risk.split import (
    CALIBRATION_MONTHS,
    FULL_MONTH_SHARE,
    TEST_MONTHS,
    TimeSplit,
    default_split,
)
from training.tracking import CHAMPION

__all__ = [
    "CALIBRATION_MONTHS",
    "CHAMPION",
    "ERRORS",
    "EXPERIMENT",
    "FULL_MONTH_SHARE",
    "LABEL",
    "LABELLED_AT",
    "MONOTONE_INCREASING_FEATURES",
    "PIP_PACKAGES",
    "RED_FLAG_COUNT",
    "REGISTERED_MODEL",
    "SCHEME",
    "SCORERS",
    "TEST_MONTHS",
    "ScoreResult",
    "ScoringError",
    "TimeSplit",
    "TrainResult",
    "TrainingError",
    "TrainingOptions",
    "attach_labels",
    "build_feature_frame",
    "champion_gate",
    "data_version",
    "default_split",
    "drift_reference",
    "evaluate",
    "fit_risk_model",
    "labels_from_outcomes",
    "main",
    "open_store",
    "plot_precision_recall",
    "read_audit_outcomes",
    "read_truth",
    "red_flag_count",
    "score",
    "scorer_scores",
    "signature_frame",
    "summary_table",
    "train",
    "training_categories",
]
