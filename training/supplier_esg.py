"""Supplier ESG risk: train on point-in-time snapshots, evaluate against a points scorecard,
track in MLflow, gate.

Usage::

    python -m training.supplier_esg train [--data-dir DIR] [--key-file FILE]
        [--tracking-uri URI] [--n-estimators 200] [--num-leaves 7] [--learning-rate 0.05]
        [--min-improvement 0] [--seed 0] [--snapshot DIR] [--scheduler tcp://host:8786]
        [--quiet]

On a Dask cluster (``--scheduler tcp://host:8786``, else ``LODESTAR_DASK_SCHEDULER``; without
either everything runs in this process): the workers build the snapshot rows per partition of
suppliers (``build_snapshots_on_cluster``: equal to the one-machine rows), LightGBM fits with
``lightgbm.dask`` (``training.distributed.dask_booster``), and calibration, evaluation, the
MLflow run, registration and the champion gate run here, on the client, as without one.

Tracking URI: ``--tracking-uri``, else ``LODESTAR_MLFLOW_TRACKING_URI``, else SQLite in the data
folder (``training.tracking.resolve_tracking_uri``).

Snapshot design. One row per (registered supplier, cut date): features as of the cut
(``features.esg.build.supplier_features``, events strictly before it), label 1 when a serious
incident is dated in the 365 days from the cut (``SERIOUS_INCIDENT``: a safety accident, a
listing — safety blacklist, debarment, court defaulter, serious-violation or tax-violation
list — a serious or major environmental penalty, or a bribery finding). Cuts: trees on
``TRAIN_CUTS`` (2022-01-01, 2022-07-01, 2023-01-01, 2023-07-01), Platt calibration on
``CALIBRATION_CUT`` (2024-01-01), evaluation on ``TEST_CUT`` (2025-01-01, the held-out later
period: incidents of 2025). A supplier appears on a cut only if it was in the register before
it. Every training and calibration label window ends by the test cut (checked): a 2024-07-01
training cut would label with incidents of the first half of 2025, the test period, for the
same suppliers, so it is not used.

Baseline: ``scorecard_points``, the points an analyst's checklist gives (documented at
``SCORECARD_POINTS``). Evaluation on the test cut, in the same run: ROC-AUC and PR-AUC of model
and scorecard; incident rate per band (must rise band to band: ``bands_rise`` 1/0); Brier and a
reliability table; band shares and incident rates for small vs large suppliers and by region,
with the ratio between groups (size and region come from the register for this check only:
they are never features).

MLflow: experiment ``supplier-esg``; parameters, metrics, data version (sha256 of the snapshot
frame), plots (SHAP summary, reliability), the band table, and the model as a pyfunc
(``models.esg.pyfunc.EsgPyfunc``) with signature, input example and pinned requirements,
registered as ``supplier-esg`` with alias ``challenger``; it takes ``champion`` when
``training.tracking.compare_with_champion`` says it beats the champion's ROC-AUC on the same
test rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from core.settings import Settings
from features.esg.build import supplier_features
from features.esg.history import SupplierHistory, known_supplier_ids, read_supplier_frames
from features.esg.specs import (
    FEATURES,
    HAS_ANY_HISTORY,
    MODEL_FEATURES,
    MONOTONE_CONSTRAINTS,
    SUPPLIER_ID,
)
from models.calibration import PlattCalibrator
from models.drift import DRIFT_REFERENCE, DriftReference
from models.esg.model import BAND_NAMES, UNKNOWN, EsgModel, FeatureFrameError, band_of
from models.esg.pyfunc import ARTIFACT_KEY, EsgPyfunc, predictions_frame
from store.database import StoreReader
from store.snapshot import Snapshot
from training.boosting import BoosterFitter, local_booster
from training.cli import COMMAND_LINE, training_main
from training.data_source import open_training_snapshot
from training.distributed import SnapshotSource, cluster_client, dask_booster, worker_count
from training.metrics.binary import roc_auc
from training.metrics.procurement import brier_score, pr_auc, reliability_table
from training.plots import log_figures, plot_reliability, plot_shap_summary
from training.tracking import (
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

if TYPE_CHECKING:
    from distributed import Client

EXPERIMENT = "supplier-esg"
REGISTERED_MODEL = "supplier-esg"
LABEL = "label"
CUT = "cut"
PART = "part"
HORIZON = timedelta(days=365)
TRAIN_CUTS: tuple[date, ...] = (
    date(2022, 1, 1),
    date(2022, 7, 1),
    date(2023, 1, 1),
    date(2023, 7, 1),
)
CALIBRATION_CUT = date(2024, 1, 1)
TEST_CUT = date(2025, 1, 1)
PIP_PACKAGES = ("lodestar", "lightgbm", "scikit-learn", "pandas", "numpy", "mlflow")
MIN_GROUP_SIZE = 20
"""Regions with fewer test suppliers are pooled as ``other`` in the fairness table."""

SERIOUS_LISTINGS = frozenset(
    {"safety_blacklist", "debarment", "court_defaulter", "serious_violation_list", "tax_violation"}
)


class TrainingError(RuntimeError):
    """Training cannot run on this data (one class only, overlapping windows ...)."""


def is_serious_incident(event_type: str, severity: str | None) -> bool:
    """The label's event: accident, listing, serious/major environmental penalty, bribery."""
    if event_type in ("safety_accident", "bribery_finding") or event_type in SERIOUS_LISTINGS:
        return True
    return event_type == "env_penalty" and severity in ("serious", "major")


# --------------------------------------------------------------------------------------------
# Options


@dataclass(frozen=True)
class TrainingOptions:
    """Everything that decides a run besides the data; the cuts and the thread count are set
    from code only (the others are ``train`` options)."""

    train_cuts: tuple[date, ...] = field(default=TRAIN_CUTS, metadata={COMMAND_LINE: False})
    calibration_cut: date = field(default=CALIBRATION_CUT, metadata={COMMAND_LINE: False})
    test_cut: date = field(default=TEST_CUT, metadata={COMMAND_LINE: False})
    n_estimators: int = 200
    num_leaves: int = 7
    learning_rate: float = 0.05
    min_data_in_leaf: int = 20
    min_improvement: float = 0.0
    seed: int = 0
    num_threads: int = field(default=1, metadata={COMMAND_LINE: False})

    def check(self) -> None:
        for cut in (*self.train_cuts, self.calibration_cut):
            if cut + HORIZON > self.test_cut:
                raise TrainingError(
                    f"the label window of cut {cut} ends after the test cut {self.test_cut}: "
                    "its labels would hold test-period incidents"
                )

    def lightgbm_params(self) -> dict[str, Any]:
        return {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": 0.9,
            "lambda_l2": 1.0,
            "monotone_constraints": list(MONOTONE_CONSTRAINTS),
            "monotone_constraints_method": "advanced",
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.num_threads,
            "verbose": -1,
        }


# --------------------------------------------------------------------------------------------
# Data


def read_register_groups(store: StoreReader) -> pd.DataFrame:
    """``supplier_id``, ``size_class``, ``region``: for the fairness check only."""
    return store.query("SELECT supplier_id, size_class, region FROM suppliers")


def incident_labels(history: SupplierHistory, supplier_ids: Sequence[str], cut: date) -> np.ndarray:
    """1 where a serious incident is dated in [cut, cut + 365 days), else 0."""
    end = cut + HORIZON
    return np.array(
        [
            float(
                any(
                    cut <= e.event_date < end and is_serious_incident(e.event_type, e.severity)
                    for e in history.get(sid).events
                )
            )
            for sid in supplier_ids
        ]
    )


def snapshot(history: SupplierHistory, cut: date, part: str) -> pd.DataFrame:
    """Features as of ``cut`` and labels for every supplier registered before it."""
    ids = [
        sid
        for sid in history.supplier_ids
        if history.get(sid).registered_on is None or history.get(sid).registered_on < cut  # type: ignore[operator]
    ]
    frame = supplier_features(history, ids, cut)
    frame[CUT] = pd.Timestamp(cut)
    frame[PART] = part
    frame[LABEL] = incident_labels(history, ids, cut)
    return frame


def cut_plan(options: TrainingOptions) -> tuple[tuple[date, str], ...]:
    """(cut, part) in snapshot order: the train cuts, then calibration, then test."""
    options.check()
    return (
        *((cut, "train") for cut in options.train_cuts),
        (options.calibration_cut, "calibration"),
        (options.test_cut, "test"),
    )


def build_snapshots(history: SupplierHistory, options: TrainingOptions) -> pd.DataFrame:
    """Every cut's ``snapshot``, in ``cut_plan`` order (suppliers sorted within a cut)."""
    frames = [snapshot(history, cut, part) for cut, part in cut_plan(options)]
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------------------------
# Snapshots on a Dask cluster

CUT_POSITION = "cut_position"
"""Column of a partition's rows: the index of the row's cut in ``cut_plan``."""


def _plan_rows(history: SupplierHistory, plan: Sequence[tuple[date, str]]) -> pd.DataFrame:
    frames = []
    for position, (cut, part) in enumerate(plan):
        frame = snapshot(history, cut, part)
        frame[CUT_POSITION] = position
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def partition_snapshots(
    supplier_ids: tuple[str, ...],
    *,
    source: SnapshotSource,
    plan: tuple[tuple[date, str], ...],
    category_factors: dict[str, float],
) -> pd.DataFrame:
    """A task: the ``build_snapshots`` rows of ``supplier_ids`` on every cut of ``plan``,
    with ``CUT_POSITION``, from those suppliers' own rows of the snapshot (opened here, on
    the worker). A supplier's features and label read only its register entry,
    certificates, events and the deliveries naming it, all dated against the cut, so the rows
    equal those of a history of the whole store; an award naming suppliers of two partitions
    is read by both, each counting it for its own suppliers."""
    with source.open() as data:
        frames = read_supplier_frames(data, supplier_ids)
    history = SupplierHistory.from_frames(frames, category_factors=category_factors)
    return _plan_rows(history, plan)


def build_snapshots_on_cluster(
    client: Client,
    data: Snapshot,
    source: SnapshotSource,
    options: TrainingOptions,
    *,
    category_factors: dict[str, float],
    partitions: int | None = None,
) -> pd.DataFrame:
    """``build_snapshots`` of the snapshot ``data``, computed on the workers of ``client`` in
    ``partitions`` (default: two per worker) contiguous runs of the sorted supplier ids,
    then put back in the one-machine order (cut, then supplier id). The client reads the
    supplier ids only; the workers open ``source``."""
    plan = cut_plan(options)
    ids = known_supplier_ids(data)
    count = max(1, min(partitions or 2 * worker_count(client), len(ids)))
    chunks = [tuple(chunk) for chunk in np.array_split(np.array(ids, dtype=object), count)]
    futures = client.map(
        partition_snapshots,
        [chunk for chunk in chunks if chunk],
        source=source,
        plan=plan,
        category_factors=category_factors,
        pure=False,
    )
    frames = [frame for frame in client.gather(futures) if len(frame)]
    if not frames:  # no supplier at all: the empty frame of one machine
        frames = [_plan_rows(SupplierHistory({}, category_factors=category_factors), plan)]
    frame = pd.concat(frames, ignore_index=True)
    frame = frame.sort_values([CUT_POSITION, SUPPLIER_ID], kind="stable")
    return frame.drop(columns=CUT_POSITION).reset_index(drop=True)


def data_version(frame: pd.DataFrame) -> str:
    return frame_digest(frame[[SUPPLIER_ID, CUT, *FEATURES, PART, LABEL]])


# --------------------------------------------------------------------------------------------
# Scorecard baseline

SCORECARD_POINTS: dict[str, float] = {
    "env_penalty_count_36m": 5.0,
    "env_serious_penalty_count_36m": 10.0,
    "safety_accident_count_36m": 10.0,
    "accident_deaths_36m": 5.0,
    "labour_events_count_36m": 3.0,
    "quality_failure_count_36m": 3.0,
    "litigation_count_36m": 1.0,
    "bribery_finding_count_60m": 15.0,
    "governance_listings_active": 20.0,
    "safety_blacklist_listed": 20.0,
    "required_marks_missing": 10.0,
    "required_licences_missing": 10.0,
    "claims_without_evidence": 2.0,
}
"""Points per unit of each feature: 5 per environmental penalty in 36 months and 10 more if
serious or major; 10 per accident and 5 per death; 3 per labour or quality event; 1 per
lawsuit; 15 per bribery finding; 20 per listing in force; 10 per missing mark or licence; 2
per undocumented claim. Plus ``SCORECARD_MISSING_CERT_POINTS`` for each of ISO 14001 and ISO
45001 not held and ``SCORECARD_TAX_POINTS`` by tax grade. Higher is riskier."""
SCORECARD_MISSING_CERT_POINTS = 5.0
SCORECARD_TAX_POINTS = {2.0: 2.0, 3.0: 5.0, 4.0: 10.0}  # M, C, D


def scorecard_points(frame: pd.DataFrame) -> np.ndarray:
    points = np.zeros(len(frame))
    for name, weight in SCORECARD_POINTS.items():
        points += weight * frame[name].astype(float).fillna(0.0).to_numpy()
    for name in ("iso14001_valid", "iso45001_valid"):
        points += SCORECARD_MISSING_CERT_POINTS * (frame[name].astype(float).fillna(0.0) == 0)
    tax = frame["tax_credit_grade_rank"].astype(float)
    points += tax.map(SCORECARD_TAX_POINTS).fillna(0.0).to_numpy()
    return points


# --------------------------------------------------------------------------------------------
# Fit


def fit_esg_model(
    snapshots: pd.DataFrame,
    options: TrainingOptions,
    *,
    fit_booster: BoosterFitter = local_booster,
) -> EsgModel:
    """Trees on the train cuts (``fit_booster``), Platt calibration on the calibration cut."""
    train = snapshots[snapshots[PART] == "train"]
    calibration = snapshots[snapshots[PART] == "calibration"]
    for name, rows in (("train", train), ("calibration", calibration)):
        if rows[LABEL].nunique() < 2:
            raise TrainingError(f"the {name} snapshots hold fewer than two label classes")
    booster = fit_booster(
        train[MODEL_FEATURES].to_numpy(dtype=float),
        train[LABEL].to_numpy(dtype=float),
        feature_names=list(MODEL_FEATURES),
        categorical_index=[],
        params=options.lightgbm_params(),
        rounds=options.n_estimators,
    )
    raw = booster.predict(calibration[MODEL_FEATURES].to_numpy(dtype=float), raw_score=True)
    calibrator = PlattCalibrator().fit(raw, calibration[LABEL].to_numpy(dtype=int))
    return EsgModel(
        booster=booster,
        calibrator=calibrator,
        feature_names=MODEL_FEATURES,
        metadata={
            "train_cuts": [c.isoformat() for c in options.train_cuts],
            "calibration_cut": options.calibration_cut.isoformat(),
            "test_cut": options.test_cut.isoformat(),
            "label": "serious ESG incident in the 365 days after the date",
            "score": "100 x calibrated probability (percent)",
        },
    )


def drift_reference(model: EsgModel, snapshots: pd.DataFrame) -> DriftReference:
    """The binned model inputs and calibrated probability of the calibration cut's suppliers
    (the latest snapshot before the test cut, scored by trees not fitted on it)."""
    calibration = snapshots[snapshots[PART] == "calibration"]
    return DriftReference.from_frame(
        calibration,
        model.predict_proba(calibration),
        features=model.feature_names,
        part="calibration",
    )


# --------------------------------------------------------------------------------------------
# Evaluate


def band_table(labels: np.ndarray, bands: Sequence[str]) -> pd.DataFrame:
    """Per band (in order, then unknown): suppliers, incidents, incident rate."""
    frame = pd.DataFrame({"band": list(bands), LABEL: labels})
    rows = []
    for band in (*BAND_NAMES, UNKNOWN):
        members = frame[frame["band"] == band]
        rows.append(
            {
                "band": band,
                "suppliers": len(members),
                "incidents": int(members[LABEL].sum()),
                "incident_rate": float(members[LABEL].mean()) if len(members) else math.nan,
            }
        )
    return pd.DataFrame(rows)


def bands_rise(table: pd.DataFrame) -> bool:
    """Incident rates strictly rise across the non-empty scored bands."""
    rates = table[(table["band"] != UNKNOWN) & (table["suppliers"] > 0)]["incident_rate"]
    values = rates.to_numpy(dtype=float)
    return bool(len(values) >= 2 and np.all(np.diff(values) > 0))


def group_table(groups: pd.Series, scores: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """Per group: suppliers, mean score, share in high or severe band, incident rate."""
    high = np.array([band_of(s) in ("high", "severe") for s in scores], dtype=float)
    frame = pd.DataFrame(
        {"group": groups.to_numpy(), "score": scores, "high_or_severe": high, LABEL: labels}
    )
    table = frame.groupby("group").agg(
        suppliers=("score", "size"),
        mean_score=("score", "mean"),
        high_or_severe_share=("high_or_severe", "mean"),
        incident_rate=(LABEL, "mean"),
    )
    return table.reset_index()


def _ratio(high: float, low: float) -> float:
    return high / low if low > 0 else math.nan


def evaluate(
    model: EsgModel, test: pd.DataFrame, groups: pd.DataFrame
) -> tuple[dict[str, float], dict[str, pd.DataFrame]]:
    """Metrics and tables on the test cut (see the module docstring)."""
    labels = test[LABEL].to_numpy(dtype=float)
    probability = model.predict_proba(test)
    scores = 100.0 * probability
    card = scorecard_points(test)
    bands = model.bands(test, scores)
    table = band_table(labels, bands)
    metrics: dict[str, float] = {
        "test.suppliers": float(len(test)),
        "test.incidents": float(labels.sum()),
        "test.incident_rate": float(labels.mean()),
        "model.roc_auc": roc_auc(labels, probability),
        "model.pr_auc": pr_auc(labels, probability),
        "model.brier": brier_score(labels, probability),
        "model.mean_probability": float(probability.mean()),
        "scorecard.roc_auc": roc_auc(labels, card),
        "scorecard.pr_auc": pr_auc(labels, card),
        "bands_rise": float(bands_rise(table)),
    }
    metrics["model_minus_scorecard.roc_auc"] = (
        metrics["model.roc_auc"] - metrics["scorecard.roc_auc"]
    )
    for band, suppliers, rate in zip(
        table["band"], table["suppliers"], table["incident_rate"], strict=True
    ):
        metrics[f"band.{band}.suppliers"] = float(suppliers)
        metrics[f"band.{band}.incident_rate"] = float(rate)
    joined = test[[SUPPLIER_ID]].merge(groups, on=SUPPLIER_ID, how="left")
    size = group_table(joined["size_class"].fillna("unknown"), scores, labels)
    by_size = size.set_index("group")
    if {"small", "large"} <= set(by_size.index):
        for what in ("high_or_severe_share", "mean_score", "incident_rate"):
            small = float(by_size.loc["small", what])  # type: ignore[arg-type]
            large = float(by_size.loc["large", what])  # type: ignore[arg-type]
            metrics[f"fairness.size.small.{what}"] = small
            metrics[f"fairness.size.large.{what}"] = large
            metrics[f"fairness.size.small_to_large.{what}"] = _ratio(small, large)
    regions = joined["region"].fillna("unknown")
    counts = regions.value_counts()
    pooled = regions.where(regions.map(counts) >= MIN_GROUP_SIZE, "other")
    region = group_table(pooled, scores, labels)
    large_regions = region[region["group"] != "other"]
    if len(large_regions) >= 2:
        for what in ("high_or_severe_share", "mean_score"):
            values = large_regions[what].to_numpy(dtype=float)
            metrics[f"fairness.region.max_to_min.{what}"] = _ratio(values.max(), values.min())
        metrics["fairness.region.groups"] = float(len(large_regions))
    reliability = reliability_table(labels, probability)
    return metrics, {"bands": table, "size": size, "region": region, "reliability": reliability}


def summary_text(metrics: dict[str, float], tables: dict[str, pd.DataFrame]) -> str:
    lines = [
        f"test cut: {int(metrics['test.suppliers'])} suppliers, "
        f"{int(metrics['test.incidents'])} with a serious incident in the next 12 months "
        f"({metrics['test.incident_rate']:.1%})",
        "",
        "| scorer | ROC-AUC | PR-AUC |",
        "| --- | --- | --- |",
        f"| model (calibrated probability) | {metrics['model.roc_auc']:.3f} | "
        f"{metrics['model.pr_auc']:.3f} |",
        f"| scorecard (points) | {metrics['scorecard.roc_auc']:.3f} | "
        f"{metrics['scorecard.pr_auc']:.3f} |",
        "",
        f"Brier {metrics['model.brier']:.4f}; incident rate rises band to band: "
        f"{'yes' if metrics['bands_rise'] else 'NO'}",
        "",
        tables["bands"].to_string(index=False, float_format=lambda v: f"{v:.3f}"),
        "",
        "by size class:",
        tables["size"].to_string(index=False, float_format=lambda v: f"{v:.3f}"),
        "",
        "by region (regions under 20 test suppliers pooled as other):",
        tables["region"].to_string(index=False, float_format=lambda v: f"{v:.3f}"),
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Train


@dataclass
class TrainResult:
    run_id: str
    model_version: str
    gate: GateDecision
    metrics: dict[str, float]
    summary: str
    data_version: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.model_version


def signature_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """What a client sends: the model inputs and the coverage indicator, as float64."""
    return frame[[*MODEL_FEATURES, HAS_ANY_HISTORY]].astype("float64").reset_index(drop=True)


def champion_gate(
    client: Any, test: pd.DataFrame, challenger_roc_auc: float, *, min_improvement: float
) -> GateDecision:
    def champion_roc_auc(loaded: Any) -> float:
        champion: EsgModel = loaded.unwrap_python_model().esg_model
        try:
            probability = champion.predict_proba(test)
        except FeatureFrameError as error:
            raise ChampionCannotScoreError(str(error)) from error
        return roc_auc(test[LABEL].to_numpy(dtype=float), probability)

    return compare_with_champion(
        client,
        REGISTERED_MODEL,
        challenger_roc_auc,
        champion_roc_auc,
        min_improvement=min_improvement,
        metric_name="ROC-AUC",
    )


def train(
    settings: Settings,
    options: TrainingOptions | None = None,
    *,
    tracking_uri: str | None = None,
    quiet: bool = False,
    snapshot: Path | None = None,
    scheduler: str | None = None,
) -> TrainResult:
    """Build snapshots, fit, evaluate, log, register and gate (see the module docstring), on
    the store snapshot ``snapshot`` (None: the newest, written first if there is none). With
    a ``scheduler`` address, the snapshot rows are built and the booster fitted on that Dask
    cluster (``build_snapshots_on_cluster``, ``training.distributed.dask_booster``); the
    rest runs here, as without one."""
    with ExitStack() as stack:
        cluster = stack.enter_context(cluster_client(scheduler)) if scheduler else None
        return _train(
            settings,
            options or TrainingOptions(),
            tracking_uri=tracking_uri,
            quiet=quiet,
            snapshot=snapshot,
            cluster=cluster,
        )


def _training_snapshots(
    settings: Settings, data: Snapshot, options: TrainingOptions, cluster: Client | None
) -> pd.DataFrame:
    if cluster is None:
        return build_snapshots(SupplierHistory.from_store(data), options)
    factors = SupplierHistory.empty().category_factors  # the EPA file stays on the client
    return build_snapshots_on_cluster(
        cluster, data, SnapshotSource.of(data, settings), options, category_factors=factors
    )


def _train(
    settings: Settings,
    options: TrainingOptions,
    *,
    tracking_uri: str | None,
    quiet: bool,
    snapshot: Path | None,
    cluster: Client | None,
) -> TrainResult:
    import mlflow
    from mlflow.models import infer_signature

    uri, client = start_tracking(settings, tracking_uri)
    bar = tqdm(total=5, disable=quiet, unit="step", desc="features")
    with open_training_snapshot(settings, snapshot, quiet=quiet) as data:
        snapshots = _training_snapshots(settings, data, options, cluster)
        groups = read_register_groups(data)
    version_hash = data_version(snapshots)
    bar.update(1)
    bar.set_description("fit")
    fit_booster = local_booster if cluster is None else partial(dask_booster, cluster)
    model = fit_esg_model(snapshots, options, fit_booster=fit_booster)
    model.metadata["data_version"] = version_hash
    model.metadata[DRIFT_REFERENCE] = (
        drift_reference(model, snapshots).with_data_version(version_hash).to_dict()
    )
    bar.update(1)
    bar.set_description("evaluate")
    test = snapshots[snapshots[PART] == "test"].reset_index(drop=True)
    metrics, tables = evaluate(model, test, groups)
    for part, rows in snapshots.groupby(PART):
        metrics[f"{part}.rows"] = float(len(rows))
        metrics[f"{part}.positive_rate"] = float(rows[LABEL].mean())
    summary = summary_text(metrics, tables)
    bar.update(1)
    bar.set_description("log")
    with mlflow.start_run(experiment_id=experiment_id(EXPERIMENT, uri)) as run:
        mlflow.log_params(
            {
                "train_cuts": ",".join(c.isoformat() for c in options.train_cuts),
                "calibration_cut": options.calibration_cut.isoformat(),
                "test_cut": options.test_cut.isoformat(),
                "horizon_days": HORIZON.days,
                "label": "accident, listing, serious/major env penalty or bribery in 365 days",
                "n_estimators": options.n_estimators,
                "num_leaves": options.num_leaves,
                "learning_rate": options.learning_rate,
                "min_data_in_leaf": options.min_data_in_leaf,
                "calibration": "platt",
                "n_features": len(MODEL_FEATURES),
                "monotone_constraints": ",".join(map(str, MONOTONE_CONSTRAINTS)),
                "seed": options.seed,
                "data_version": version_hash,
            }
        )
        mlflow.set_tags(
            {"data_version": version_hash, "executor": "local" if cluster is None else "dask"}
        )
        mlflow.log_metrics(finite_metrics(metrics))
        mlflow.log_text(summary, "summary.md")
        for name, table in tables.items():
            mlflow.log_text(table.to_csv(index=False), f"tables/{name}.csv")
        reliability = plot_reliability(
            tables["reliability"],
            observed="observed incident share",
            title="reliability on the test cut (n per bin)",
        )
        log_figures(
            {
                "reliability.png": reliability,
                "shap_summary.png": plot_shap_summary(model, test, seed=options.seed),
            }
        )
        bar.update(1)
        bar.set_description("register")
        example = signature_frame(test.head(5))
        version = register_challenger(
            client,
            REGISTERED_MODEL,
            model,
            EsgPyfunc(),
            artifact_key=ARTIFACT_KEY,
            packages=PIP_PACKAGES,
            signature=infer_signature(example, predictions_frame(model, example)),
            input_example=example,
        )
        gate = champion_gate(
            client, test, metrics["model.roc_auc"], min_improvement=options.min_improvement
        )
        record_gate(client, REGISTERED_MODEL, version, gate, metric_key="roc_auc")
        bar.update(1)
    bar.close()
    return TrainResult(
        run_id=run.info.run_id,
        model_version=version,
        gate=gate,
        metrics=metrics,
        summary=summary,
        data_version=version_hash,
        tables=tables,
    )


# --------------------------------------------------------------------------------------------
# Command line


def main(argv: Sequence[str] | None = None) -> int:
    return training_main(
        argv,
        TrainingOptions,
        train,
        prog="python -m training.supplier_esg",
        description="Train, evaluate and register the supplier ESG risk model.",
        model_name=REGISTERED_MODEL,
        errors=(TrainingError,),
        report=lambda result, _: print(result.summary),
        scheduled=True,
    )


if __name__ == "__main__":
    from core.settings import owner_only_files

    with owner_only_files():
        raise SystemExit(main())
