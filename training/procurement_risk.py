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

import argparse
import math
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from tqdm import tqdm

from core.settings import Settings
from features.procurement.build import build_process_features
from features.procurement.feature_settings import FEATURE_SETTINGS_KEY, feature_settings_of
from features.procurement.history import HistoryRules, ProcurementHistory
from features.procurement.specs import CATEGORICAL_FEATURES, FEATURES, IDENTITY_COLUMNS
from models.drift import DRIFT_REFERENCE, DriftReference
from models.procurement.alerts import (
    DECISION_DATE,
    OCID,
    alerts_frame,
    red_flag_columns,
)
from models.procurement.model import (
    NO_WARNING,
    FeatureEncoder,
    FeatureFrameError,
    IsolationScorer,
    PlattCalibrator,
    RiskModel,
    build_calibrator,
    choose_thresholds,
)
from models.procurement.pyfunc import ARTIFACT_KEY, RiskPyfunc, predictions_frame
from store.database import Store, StoreError, StoreReader
from training.cli import (
    COMMAND_LINE,
    HELP,
    INSTALLATION_ERRORS,
    add_option_arguments,
    installation_arguments,
    run_training,
    settings_from,
    snapshot_arguments,
)
from training.data_source import open_training_snapshot
from training.metrics.binary import roc_auc
from training.metrics.procurement import (
    brier_score,
    pr_auc,
    precision_recall_at_k,
    recall_by_group,
    reliability_table,
    top_k_weights,
)
from training.plots import log_figures, plot_reliability, plot_shap_summary, pyplot
from training.tracking import (
    CHAMPION,
    ChampionCannotScoreError,
    GateDecision,
    compare_with_champion,
    experiment_id,
    finite_metrics,
    frame_digest,
    record_gate,
    register_challenger,
    start_tracking,
)
from world.layout import TRUTH_PROCESS_SCHEMES

EXPERIMENT = "procurement-risk"
REGISTERED_MODEL = "procurement-risk"

LABEL = "label"
LABELLED_AT = "labelled_at"
SCHEME = "scheme"
RED_FLAG_COUNT = "red_flag_count"

TEST_MONTHS = 3
CALIBRATION_MONTHS = 1

MONOTONE_INCREASING_FEATURES: tuple[str, ...] = (
    "unit_price_to_category_median_180d",
    "unit_price_to_spec_median_180d",
)
"""Features the risk may only rise with (a monotone constraint in LightGBM): a price far
above its category's median never makes a process less suspicious. Those absent from
``FEATURES`` are skipped."""

SCORERS: dict[str, str] = {
    "model": "LightGBM, calibrated probability",
    "red_flag_count": "count of red flags fired (baseline)",
    "unsupervised": "isolation-forest score alone (baseline)",
}

PIP_PACKAGES = ("lodestar", "lightgbm", "scikit-learn", "pandas", "numpy", "mlflow")


class TrainingError(RuntimeError):
    """Training cannot run on this data (no labels in a split, one class only ...)."""


class ScoringError(RuntimeError):
    """Batch scoring cannot run (no champion, store busy ...)."""


ERRORS: tuple[type[Exception], ...] = (TrainingError, ScoringError)
"""What ``train`` and ``score`` raise when they cannot run: exit code 1, not a traceback."""


# --------------------------------------------------------------------------------------------
# Options


@dataclass(frozen=True)
class TrainingOptions:
    """Everything that decides a training run besides the data.

    Model size: exact tree SHAP costs grow with trees × leaves × depth², and every warning is
    explained. On the default demo world (test October–December), 100 trees of 7 leaves at
    learning rate 0.1 gave PR-AUC 0.625 and explained about 12,000 rows a second on one
    core; 200 trees of 31 leaves at 0.05 gave 0.619 at about 700 rows a second.
    """

    review_capacity: float = 0.03
    n_estimators: int = 100
    num_leaves: int = 7
    learning_rate: float = 0.1
    min_data_in_leaf: int = 20
    calibration: Literal["platt", "isotonic"] = "platt"
    train_end: date | None = field(
        default=None, metadata={HELP: "first day not trained on (YYYY-MM-DD)"}
    )
    calibration_end: date | None = field(
        default=None, metadata={HELP: "first test day (YYYY-MM-DD)"}
    )
    label_cutoff: date | None = field(
        default=None, metadata={HELP: "train/calibrate only on labels known before this"}
    )
    min_improvement: float = 0.0
    seed: int = 0
    num_threads: int = field(default=1, metadata={COMMAND_LINE: False})

    def lightgbm_params(self, feature_names: Sequence[str]) -> dict[str, Any]:
        monotone = [1 if name in MONOTONE_INCREASING_FEATURES else 0 for name in feature_names]
        return {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": 0.9,
            "lambda_l2": 1.0,
            "monotone_constraints": monotone,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.num_threads,
            "verbose": -1,
        }


# --------------------------------------------------------------------------------------------
# Data: features, labels, split


def build_feature_frame(store: StoreReader, settings: Settings) -> pd.DataFrame:
    """One row per process: ``IDENTITY_COLUMNS`` and ``FEATURES``, sorted by decision date."""
    history = ProcurementHistory.from_store(store, settings=settings)
    frame = build_process_features(history)
    missing = [c for c in (*IDENTITY_COLUMNS, *FEATURES) if c not in frame.columns]
    if missing:
        raise TrainingError(f"the feature builder did not return column(s) {missing}")
    frame = frame.copy()
    frame[DECISION_DATE] = pd.to_datetime(frame[DECISION_DATE])
    return frame.sort_values([DECISION_DATE, OCID], kind="stable").reset_index(drop=True)


def read_audit_outcomes(store: StoreReader) -> pd.DataFrame:
    return store.query("SELECT ocid, finding, scheme, confirmed_at FROM audit_outcomes")


def labels_from_outcomes(outcomes: pd.DataFrame, *, known_by: date | None = None) -> pd.DataFrame:
    """One row per labelled process: ``ocid``, ``label`` (1 confirmed, 0 dismissed),
    ``labelled_at`` (date of that verdict) and ``scheme``.

    The label is the latest decisive verdict (confirmed or dismissed; a confirmed and a
    dismissed on the same day count as confirmed); ``needs_information`` decides nothing.
    With ``known_by``, only verdicts confirmed before that date count.
    """
    rows = outcomes[outcomes["finding"].isin(["confirmed", "dismissed"])].copy()
    rows["confirmed_at"] = pd.to_datetime(rows["confirmed_at"])
    if known_by is not None:
        rows = rows[rows["confirmed_at"] < pd.Timestamp(known_by)]
    rows[LABEL] = (rows["finding"] == "confirmed").astype(int)
    rows = rows.sort_values(["ocid", "confirmed_at", LABEL], kind="stable")
    latest = rows.groupby("ocid", sort=True).tail(1)
    return pd.DataFrame(
        {
            OCID: latest["ocid"].to_numpy(),
            LABEL: latest[LABEL].to_numpy(),
            LABELLED_AT: latest["confirmed_at"].to_numpy(),
            SCHEME: latest["scheme"].fillna("").to_numpy(),
        }
    )


@dataclass(frozen=True)
class TimeSplit:
    """Train: decided before ``train_end``; calibrate: from ``train_end`` to before
    ``calibration_end``; test: from ``calibration_end`` on; a process without a decision date
    is ``undated`` and in no part."""

    train_end: date
    calibration_end: date

    def part(self, decision_dates: pd.Series) -> pd.Series:
        dates = pd.to_datetime(decision_dates)
        return pd.Series(
            np.select(
                [
                    dates.isna(),
                    dates < pd.Timestamp(self.train_end),
                    dates < pd.Timestamp(self.calibration_end),
                ],
                ["undated", "train", "calibration"],
                default="test",
            ),
            index=decision_dates.index,
        )


FULL_MONTH_SHARE = 0.5
"""A month counts as part of the data's span when it holds at least this share of the median
month's processes; sparser trailing months (tenders whose deadline is after the snapshot) are
tested with the last full months but do not move the split."""


def default_split(decision_dates: pd.Series) -> TimeSplit:
    """The last ``TEST_MONTHS`` full calendar months of the data (and any sparse months after
    them) test, the ``CALIBRATION_MONTHS`` before calibrate, everything earlier trains. On
    the 2025 demo world: train January–August, calibrate September, test October–December
    (with the few tenders whose deadline falls in 2026)."""
    months = pd.to_datetime(decision_dates).dropna().dt.to_period("M")
    if months.empty:
        raise TrainingError("no process has a decision date")
    counts = months.value_counts().sort_index()
    full = counts[counts >= FULL_MONTH_SHARE * counts.median()]
    last = full.index.max()
    calibration_end = (last - (TEST_MONTHS - 1)).to_timestamp().date()
    train_end = (last - (TEST_MONTHS - 1 + CALIBRATION_MONTHS)).to_timestamp().date()
    return TimeSplit(train_end=train_end, calibration_end=calibration_end)


def attach_labels(
    frame: pd.DataFrame,
    outcomes: pd.DataFrame,
    split: TimeSplit,
    *,
    label_cutoff: date | None,
) -> pd.DataFrame:
    """``frame`` with ``part`` (train/calibration/test) and ``label`` (NaN when unlabelled);
    training and calibration labels honour ``label_cutoff``, test labels use all outcomes."""
    out = frame.copy()
    out["part"] = split.part(out[DECISION_DATE])
    everything = labels_from_outcomes(outcomes).set_index(OCID)[LABEL]
    known = labels_from_outcomes(outcomes, known_by=label_cutoff).set_index(OCID)[LABEL]
    label_all = out[OCID].map(everything).astype(float)
    label_known = out[OCID].map(known).astype(float)
    out[LABEL] = np.where(out["part"] == "test", label_all, label_known)
    return out


def read_truth(settings: Settings) -> pd.Series | None:
    """Planted scheme per ocid from the truth folder (evaluation only), or None."""
    path = settings.resolved_truth_dir / TRUTH_PROCESS_SCHEMES
    if not path.is_file():
        return None
    truth = pd.read_csv(path, dtype=str)
    return truth.drop_duplicates("ocid").set_index("ocid")["scheme"]


def data_version(frame: pd.DataFrame) -> str:
    """sha256 over the ocids, decision dates, features, parts and labels, in row order."""
    return frame_digest(frame[[OCID, DECISION_DATE, *FEATURES, "part", LABEL]])


def red_flag_count(frame: pd.DataFrame) -> np.ndarray:
    """The red-flag-count baseline: ``red_flag_count`` if it is a feature, else the number of
    red-flag indicator columns that are set."""
    if RED_FLAG_COUNT in frame.columns:
        return frame[RED_FLAG_COUNT].astype(float).fillna(0.0).to_numpy()
    columns = red_flag_columns()
    if not columns:
        return np.zeros(len(frame))
    fired = frame[list(columns)].astype(float).fillna(0.0) > 0
    return fired.sum(axis=1).to_numpy(dtype=float)


# --------------------------------------------------------------------------------------------
# Fitting


def training_categories(frame: pd.DataFrame) -> dict[str, list[str]]:
    return {
        column: sorted(frame[column].dropna().astype(str).unique().tolist())
        for column in CATEGORICAL_FEATURES
    }


def fit_risk_model(labelled: pd.DataFrame, options: TrainingOptions) -> RiskModel:
    """Fit booster, calibrator, isolation forest and thresholds on the train and calibration
    parts of ``labelled`` (as returned by ``attach_labels``)."""
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
    dataset = lgb.Dataset(
        x_train,
        label=train_labelled[LABEL].to_numpy(dtype=float),
        feature_name=feature_names,
        categorical_feature=categorical_index,
        free_raw_data=False,
    )
    booster = lgb.train(
        options.lightgbm_params(feature_names), dataset, num_boost_round=options.n_estimators
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


# --------------------------------------------------------------------------------------------
# Evaluation


def scorer_scores(model: RiskModel, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    matrix = model.matrix(frame)
    return {
        "model": model.calibrator.transform(model.raw_score_matrix(matrix)),
        "red_flag_count": red_flag_count(frame),
        "unsupervised": model.unsupervised_score_matrix(matrix),
    }


def evaluate(
    model: RiskModel,
    test: pd.DataFrame,
    *,
    review_capacity: float,
    truth: pd.Series | None,
) -> dict[str, Any]:
    """Metrics of the model and both baselines on the test rows (see the module docstring).

    Returns ``{"metrics": {"<scorer>.<metric>": value}, "scores": {...}, "reliability": df}``.
    """
    labels = test[LABEL].to_numpy(dtype=float)
    scores = scorer_scores(model, test)
    k = review_capacity * len(test)
    schemes = test[OCID].map(truth).to_numpy(dtype=object) if truth is not None else None
    metrics: dict[str, float] = {
        "test.processes": float(len(test)),
        "test.audited": float(np.isfinite(labels).sum()),
        "test.confirmed": float((labels == 1).sum()),
        "test.alert_budget": float(k),
    }
    for name, score in scores.items():
        audited = np.isfinite(labels)
        precision, recall = precision_recall_at_k(labels, score, k)
        metrics[f"{name}.pr_auc"] = pr_auc(labels, score)
        metrics[f"{name}.roc_auc"] = roc_auc(labels[audited], score[audited])
        metrics[f"{name}.precision_at_capacity"] = precision
        metrics[f"{name}.recall_at_capacity"] = recall
        if schemes is not None:
            weights = top_k_weights(score, k)
            for scheme, value in recall_by_group(schemes, weights).items():
                metrics[f"{name}.scheme_recall.{scheme}"] = value
            planted = np.array([isinstance(s, str) and s != "" for s in schemes], dtype=float)
            metrics[f"{name}.planted_pr_auc"] = pr_auc(planted, score)
    raw_probability = 1.0 / (1.0 + np.exp(-model.raw_score(test)))
    metrics["model.brier"] = brier_score(labels, scores["model"])
    metrics["model.brier_uncalibrated"] = brier_score(labels, raw_probability)
    levels = model.warning_level(scores["model"])
    reviewable = pd.Series(np.isin(levels, ["red", "orange"]), index=test.index)
    metrics["model.alert_share_orange_or_above"] = float(reviewable.mean())
    metrics["model.alert_share_any_level"] = float((levels != NO_WARNING).mean())
    monthly = reviewable.groupby(test[DECISION_DATE].dt.to_period("M")).mean()
    for month, share in monthly.items():
        metrics[f"model.alert_share_orange_or_above.{month}"] = float(share)
    if schemes is not None:
        counts = pd.Series(schemes).dropna().value_counts()
        metrics.update({f"test.planted.{scheme}": float(n) for scheme, n in counts.items()})
    return {
        "metrics": metrics,
        "scores": scores,
        "reliability": reliability_table(labels, scores["model"]),
    }


def summary_table(metrics: dict[str, float]) -> str:
    """Markdown: one row per scorer, the headline metrics as columns, then scheme recall."""
    headline = [
        "pr_auc",
        "roc_auc",
        "precision_at_capacity",
        "recall_at_capacity",
        "planted_pr_auc",
        "brier",
    ]
    lines = [
        "| scorer | " + " | ".join(headline) + " |",
        "| --- |" + " ---: |" * len(headline),
    ]
    for name in SCORERS:
        cells = [_cell(metrics.get(f"{name}.{metric}")) for metric in headline]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    schemes = sorted(
        {key.split(".", 2)[2] for key in metrics if key.startswith("model.scheme_recall.")}
    )
    if schemes:
        lines += [
            "",
            "recall at capacity per planted scheme (test months, all processes)",
            "",
            "| scheme | planted | " + " | ".join(SCORERS) + " |",
            "| --- | ---: |" + " ---: |" * len(SCORERS),
        ]
        for scheme in schemes:
            cells = [_cell(metrics.get(f"{name}.scheme_recall.{scheme}")) for name in SCORERS]
            planted = _cell(metrics.get(f"test.planted.{scheme}"), digits=0)
            lines.append(f"| {scheme} | {planted} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


# --------------------------------------------------------------------------------------------
# Plots (matplotlib, Agg)


def plot_precision_recall(labels: np.ndarray, scores: dict[str, np.ndarray]) -> Any:
    from sklearn.metrics import precision_recall_curve

    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6, 5))
    audited = np.isfinite(labels)
    if (labels[audited] == 1).any():
        for name, score in scores.items():
            precision, recall, _ = precision_recall_curve(labels[audited], score[audited])
            label = f"{name} (AP {pr_auc(labels, score):.3f})"
            axes.step(recall, precision, where="post", label=label)
        axes.legend(loc="upper right")
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_title("precision–recall, audited test processes")
    figure.tight_layout()
    return figure


# --------------------------------------------------------------------------------------------
# MLflow


def signature_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input as a client sends it: numbers as float64, categories as text."""
    columns: dict[str, Any] = {}
    for name in FEATURES:
        if name in CATEGORICAL_FEATURES:
            columns[name] = frame[name].astype(object).where(frame[name].notna(), None)
        else:
            columns[name] = frame[name].astype("float64")
    return pd.DataFrame(columns).reset_index(drop=True)


def champion_gate(
    client: Any,
    test: pd.DataFrame,
    challenger_pr_auc: float,
    *,
    min_improvement: float,
) -> GateDecision:
    """Compare the challenger with the current champion on the same test rows (PR-AUC)."""

    def champion_pr_auc(loaded: Any) -> float:
        champion_model: RiskModel = loaded.unwrap_python_model().risk_model
        try:
            scores = champion_model.predict_proba(test)
        except FeatureFrameError as error:
            raise ChampionCannotScoreError(str(error)) from error
        return pr_auc(test[LABEL].to_numpy(dtype=float), scores)

    return compare_with_champion(
        client,
        REGISTERED_MODEL,
        challenger_pr_auc,
        champion_pr_auc,
        min_improvement=min_improvement,
        metric_name="PR-AUC",
    )


# --------------------------------------------------------------------------------------------
# Train


@dataclass
class TrainResult:
    run_id: str
    model_version: str
    gate: GateDecision
    metrics: dict[str, float]
    summary: str
    split: TimeSplit
    data_version: str


@contextmanager
def _step(bar: tqdm, description: str) -> Iterator[None]:
    bar.set_description(description)
    yield
    bar.update(1)


def open_store(settings: Settings, *, read_only: bool) -> Store:
    try:
        return Store.open(settings, settings.keyring(), read_only=read_only)
    except StoreError as error:
        if read_only:
            raise
        raise ScoringError(
            f"writing alerts needs the store opened read-write, and DuckDB allows one writer: "
            f"stop the service (it holds the store) and run again. ({error})"
        ) from error


def train(
    settings: Settings,
    options: TrainingOptions,
    *,
    tracking_uri: str | None = None,
    quiet: bool = False,
    snapshot: Path | None = None,
) -> TrainResult:
    """Build, fit, evaluate, log, register and gate (see the module docstring), on the
    store snapshot ``snapshot`` (None: the newest, written first if there is none)."""
    import mlflow
    from mlflow.models import infer_signature

    uri, client = start_tracking(settings, tracking_uri)
    bar = tqdm(total=6, disable=quiet, unit="step")
    with _step(bar, "features"), open_training_snapshot(settings, snapshot, quiet=quiet) as data:
        frame = build_feature_frame(data, settings)
        outcomes = read_audit_outcomes(data)
        source = data.manifest
    split = (
        TimeSplit(options.train_end, options.calibration_end)
        if options.train_end and options.calibration_end
        else default_split(frame[DECISION_DATE])
    )
    labelled = attach_labels(frame, outcomes, split, label_cutoff=options.label_cutoff)
    version_hash = data_version(labelled)
    test = labelled[labelled["part"] == "test"]
    if test.empty:
        raise TrainingError(f"no process decided on or after {split.calibration_end}")
    with _step(bar, "fit"):
        model = fit_risk_model(labelled, options)
        model.metadata.update(
            {
                "data_version": version_hash,
                "train_end": split.train_end.isoformat(),
                "calibration_end": split.calibration_end.isoformat(),
                DRIFT_REFERENCE: drift_reference(model, labelled)
                .with_data_version(version_hash)
                .to_dict(),
                FEATURE_SETTINGS_KEY: feature_settings_of(HistoryRules.from_settings(settings)),
            }
        )
    with _step(bar, "evaluate"):
        truth = read_truth(settings)
        evaluation = evaluate(model, test, review_capacity=options.review_capacity, truth=truth)
    metrics: dict[str, float] = evaluation["metrics"]
    parts = labelled.groupby("part")
    counts = {
        f"{part}.{what}": float(value)
        for part, rows in parts
        for what, value in (
            ("processes", len(rows)),
            ("audited", rows[LABEL].notna().sum()),
            ("confirmed", (rows[LABEL] == 1).sum()),
        )
    }
    summary = summary_table(metrics)

    with mlflow.start_run(experiment_id=experiment_id(EXPERIMENT, uri)) as run:
        with _step(bar, "log"):
            mlflow.log_params(
                {
                    "review_capacity": options.review_capacity,
                    "n_estimators": options.n_estimators,
                    "num_leaves": options.num_leaves,
                    "learning_rate": options.learning_rate,
                    "min_data_in_leaf": options.min_data_in_leaf,
                    "calibration": model.metadata["calibration"],
                    "train_months": f"< {split.train_end}",
                    "calibration_months": f"{split.train_end} .. < {split.calibration_end}",
                    "test_months": f">= {split.calibration_end}",
                    "label_cutoff": str(options.label_cutoff or "all outcomes in the store"),
                    "labels": "1 confirmed, 0 dismissed (latest verdict); unaudited unlabelled",
                    "n_features": len(FEATURES),
                    "monotone_increasing": ",".join(
                        f for f in MONOTONE_INCREASING_FEATURES if f in FEATURES
                    )
                    or "none",
                    "seed": options.seed,
                    "data_version": version_hash,
                    "truth_available": truth is not None,
                }
            )
            mlflow.set_tags(
                {
                    "data_version": version_hash,
                    "snapshot": source.path.name,
                    "snapshot.data_version": source.data_version,
                }
            )
            mlflow.log_metrics({**counts, **finite_metrics(metrics)})
            for level, threshold in model.thresholds.items():
                mlflow.log_metric(f"threshold.{level}", threshold)
            mlflow.log_dict(model.metadata[FEATURE_SETTINGS_KEY], "feature_settings.json")
            mlflow.log_text(summary, "summary.md")
            mlflow.log_text(evaluation["reliability"].to_csv(index=False), "reliability.csv")
            labels = test[LABEL].to_numpy(dtype=float)
            reliability = plot_reliability(
                evaluation["reliability"],
                observed="observed share confirmed",
                title="reliability, audited test processes (n per bin)",
            )
            log_figures(
                {
                    "precision_recall.png": plot_precision_recall(labels, evaluation["scores"]),
                    "reliability.png": reliability,
                    "shap_summary.png": plot_shap_summary(model, test, seed=options.seed),
                }
            )
        with _step(bar, "register"):
            example = signature_frame(test.head(5))
            version = register_challenger(
                client,
                REGISTERED_MODEL,
                model,
                RiskPyfunc(),
                artifact_key=ARTIFACT_KEY,
                packages=PIP_PACKAGES,
                signature=infer_signature(example, predictions_frame(model, example)),
                input_example=example,
            )
        with _step(bar, "gate"):
            gate = champion_gate(
                client,
                test,
                metrics["model.pr_auc"],
                min_improvement=options.min_improvement,
            )
            record_gate(client, REGISTERED_MODEL, version, gate, metric_key="pr_auc")
    bar.close()
    return TrainResult(
        run_id=run.info.run_id,
        model_version=version,
        gate=gate,
        metrics={**counts, **metrics},
        summary=summary,
        split=split,
        data_version=version_hash,
    )


# --------------------------------------------------------------------------------------------
# Score


@dataclass
class ScoreResult:
    model_version: str
    scored: int
    alerts: pd.DataFrame
    written: int | None = None  # new rows in the alerts table; None without --store-write
    by_level: dict[str, int] = field(default_factory=dict)


def score(
    settings: Settings,
    *,
    tracking_uri: str | None = None,
    alias: str = CHAMPION,
    store_write: bool = False,
    quiet: bool = False,
) -> ScoreResult:
    """Score every process in the store with ``models:/procurement-risk@<alias>``."""
    import mlflow
    from mlflow.exceptions import MlflowException

    uri, client = start_tracking(settings, tracking_uri)
    try:
        registered = client.get_model_version_by_alias(REGISTERED_MODEL, alias)
    except MlflowException as error:
        raise ScoringError(
            f"no model {REGISTERED_MODEL}@{alias} at {uri}: run "
            f"`python -m training.procurement_risk train` first"
        ) from error
    version = str(registered.version)
    loaded = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}/{version}")
    model: RiskModel = loaded.unwrap_python_model().risk_model

    with open_store(settings, read_only=not store_write) as store:
        with tqdm(total=1, desc="features", unit="step", disable=quiet) as bar:
            frame = build_feature_frame(store, settings)
            bar.update(1)
        with tqdm(total=len(frame), desc="score", unit="process", disable=quiet) as bar:
            alerts = alerts_frame(
                model,
                frame,
                model_name=REGISTERED_MODEL,
                model_version=version,
                scored_at=datetime.now(UTC).replace(tzinfo=None),
                on_chunk=bar.update,
            )
        written = None
        if store_write:
            with store.transaction():
                written = store.insert_new("alerts", alerts)
            store.checkpoint()
    by_level = alerts["warning_level"].value_counts().to_dict()
    return ScoreResult(
        model_version=version,
        scored=len(frame),
        alerts=alerts,
        written=written,
        by_level={str(k): int(v) for k, v in by_level.items()},
    )


# --------------------------------------------------------------------------------------------
# Command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training.procurement_risk",
        description="Train, evaluate and register the procurement risk model; batch-score.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    common = installation_arguments()

    fit = commands.add_parser(
        "train", parents=[common, snapshot_arguments()], help="train, evaluate, register, gate"
    )
    add_option_arguments(fit, TrainingOptions)

    batch = commands.add_parser("score", parents=[common], help="score the store with a model")
    batch.add_argument("--alias", default=CHAMPION)
    batch.add_argument(
        "--store-write",
        action="store_true",
        help="write the alerts table (needs the store read-write: stop the service first)",
    )
    return parser


def _print_evaluation(result: TrainResult, options: TrainingOptions) -> None:
    split, metrics = result.split, result.metrics
    print(
        f"split: train < {split.train_end}, calibrate < {split.calibration_end}, "
        f"test from {split.calibration_end}; data version {result.data_version[:12]}"
    )
    print(result.summary)
    print(
        f"\nBrier {metrics['model.brier']:.4f} (uncalibrated "
        f"{metrics['model.brier_uncalibrated']:.4f}); test months alerted at orange or "
        f"above: {metrics['model.alert_share_orange_or_above']:.1%} (review capacity "
        f"{options.review_capacity:.1%}, thresholds set on the calibration months)"
    )


def _score_command(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    started = time.perf_counter()
    try:
        scored = score(
            settings,
            tracking_uri=args.tracking_uri,
            alias=args.alias,
            store_write=args.store_write,
            quiet=args.quiet,
        )
    except ERRORS + INSTALLATION_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    written = (
        f"{scored.written} new rows in alerts"
        if scored.written is not None
        else "nothing written (add --store-write)"
    )
    print(
        f"{REGISTERED_MODEL} v{scored.model_version}: {scored.scored:,} processes, "
        f"{len(scored.alerts):,} warnings {scored.by_level}; {written} "
        f"({time.perf_counter() - started:.1f} s)"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "score":
        return _score_command(args)
    if (args.train_end is None) != (args.calibration_end is None):
        parser.error("give both --train-end and --calibration-end, or neither")
    return run_training(
        args,
        TrainingOptions,
        train,
        model_name=REGISTERED_MODEL,
        errors=ERRORS,
        report=_print_evaluation,
    )


if __name__ == "__main__":
    from core.settings import owner_only_files

    with owner_only_files():
        raise SystemExit(main())
