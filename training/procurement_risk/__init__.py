"""Procurement risk: train, evaluate against two baselines, track in MLflow, gate, batch-score.

Usage::

    python -m training.procurement_risk train [--data-dir DIR] [--key-file FILE]
        [--snapshot DIR] [--tracking-uri URI] [--review-capacity 0.03] [--n-estimators 100]
        [--num-leaves 7] [--learning-rate 0.1] [--calibration platt|isotonic]
        [--train-end YYYY-MM-DD] [--calibration-end YYYY-MM-DD] [--label-cutoff YYYY-MM-DD]
        [--seed 0] [--quiet]
    python -m training.procurement_risk score [--data-dir DIR] [--key-file FILE]
        [--tracking-uri URI] [--alias champion] [--store-write] [--quiet]

The tracking URI is ``--tracking-uri``, else ``LODESTAR_MLFLOW_TRACKING_URI``, else
``sqlite:///<data_dir>/mlflow.db`` (``Settings.resolved_mlflow_tracking_uri``); it is always
set explicitly before MLflow is touched. With a SQLite store the run artefacts go to
``<folder of the .db>/mlartifacts``, never to a ``./mlruns`` in the working folder.

Unit and features: one row per contracting process, built by
``features.procurement.build.build_process_features`` from a snapshot of the store
(``training.data_source``: ``--snapshot``, else the newest), each feature as of the process's
``decision_date``.

Labels (``labels_from_outcomes``), from ``audit_outcomes``: a process's label is its latest
decisive audit verdict: 1 = ``confirmed`` (a finding), 0 = ``dismissed`` (audited, nothing
found); a process with only ``needs_information`` verdicts, or never audited, has no label.
Unaudited processes are not negatives: the audit is targeted (schemed processes are audited
more often) and most processes are never audited, so treating them as 0 would teach the model
what auditors choose to look at, mixed with what they miss. The model learns from audited
processes only (no positive-unlabelled reweighting); the probability it gives is "an audit
would confirm a finding". Unlabelled processes still count in the alert budget (thresholds and
precision/recall at capacity are per share of *all* processes) and train the unsupervised
isolation forest.

Time split (``default_split``), on ``decision_date``: the last three months of the data are
the test months, the month before them calibrates (Platt scaling by default) and sets the
warning thresholds, everything earlier trains. On the 2025 demo world: train January–August,
calibrate September, test October–December. Labels: by default every outcome in the store,
however late it arrived (audit outcomes arrive two to nine months after the award; the store
holds them up to late 2026). Why that does not leak: the features of every row are built as
of its own decision date, the test rows' labels are used only to evaluate, and no training row
is decided in or after the test months; a training label that arrived after the test months
began is information about an earlier process, not about any test process. What it does
flatter is the label *count*: a model trained on 1 October would know only the outcomes
confirmed by then (about none for August, few for June–July). ``--label-cutoff`` keeps only
the training and calibration labels confirmed before a date, to measure that deployment
case; the test labels always use everything known.

Evaluation, in the same run on the same test months: the model (calibrated probability)
against the count of red flags fired and the unsupervised score alone. Per scorer: PR-AUC
(average precision) and ROC-AUC on the audited test processes; precision and recall when the
top ``review_capacity`` share of *all* test processes is alerted (ties at the cut share the
remaining budget fractionally); recall per planted scheme at the same capacity (from
``<truth_dir>/process_schemes.csv`` when the folder exists: evaluation only, never a feature);
for the model also the Brier score (calibrated and raw LightGBM probability) and a
reliability table and plot.

MLflow: experiment ``procurement-risk``; parameters, metrics, the data version (sha256 of the
feature frame and the labels), plots (SHAP summary from ``shap.TreeExplainer`` on a sample,
precision–recall, reliability), the summary table, and the model as a pyfunc
(``models.procurement.pyfunc.RiskPyfunc``; it answers probabilities) with its signature and
input example, registered as ``procurement-risk``. The new version gets the alias
``challenger``. Gate: the current ``champion`` is loaded and scored on this run's test months;
the challenger takes ``champion`` (and drops ``challenger``) only if there is no champion, or
the champion cannot score today's features, or the challenger's PR-AUC beats the champion's by
more than ``--min-improvement`` (default 0: a tie keeps the champion). The decision is logged
as tags ``gate.*`` on the run and the model version. The feature-defining settings the
features were built with (approval thresholds, legal tender line, minimum tender days) are
saved in the model's metadata under ``feature_settings`` and logged as
``feature_settings.json``: the service computes this model's features with them.

``score`` loads ``models:/procurement-risk@champion`` (``--alias`` to choose another), scores
every process in the store and, with ``--store-write``, writes the warnings (levels red,
orange, yellow) to the ``alerts`` table: ``alert_id`` is the sha256 of the model name, version
and ocid, so a second run with the same model adds nothing and keeps reviewers' statuses.
Writing needs the store read-write, which DuckDB allows to one process: stop the service
first. Without ``--store-write`` it only reports what it would write. Unlike ``train``, ``score``
still reads the live store (it writes back to it); once the service scores new processes
itself this command goes.
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
