"""The training run: features, fit, evaluate, log, register, gate.

The ``collusion_score`` feature is computed with the ``collusion`` champion of the registry
at the start of the run (``collusion_detector``; none registered: the CV rule); its version is
saved in the risk model's metadata (``models.collusion.pyfunc.RISK_METADATA_KEY``) and logged,
and the service computes the feature with that same version. The Dask path computes the CV
rule only and saves no version.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from core.settings import Settings
from features.procurement.feature_settings import FEATURE_SETTINGS_KEY, feature_settings_of
from features.procurement.history import HistoryRules
from features.procurement.specs import FEATURES
from models.collusion.detector import CollusionDetector
from models.collusion.pyfunc import REGISTERED_MODEL as COLLUSION_MODEL
from models.collusion.pyfunc import RISK_METADATA_KEY as COLLUSION_KEY
from models.collusion.pyfunc import load_detector
from models.drift import DRIFT_REFERENCE
from models.procurement.alerts import DECISION_DATE
from models.procurement.pyfunc import ARTIFACT_KEY, RiskPyfunc, predictions_frame
from training.boosting import local_booster
from training.data_source import open_training_snapshot
from training.distributed import cluster_client, dask_booster
from training.plots import log_figures, plot_reliability, plot_shap_summary
from training.procurement_risk.data import (
    build_feature_frame_on_cluster,
    data_version,
    snapshot_feature_frame,
)
from training.procurement_risk.evaluate import evaluate, read_truth, summary_table
from training.procurement_risk.fit import drift_reference, fit_risk_model
from training.procurement_risk.frame_cache import collusion_identity
from training.procurement_risk.labels import LABEL, attach_labels, read_audit_outcomes
from training.procurement_risk.options import (
    EXPERIMENT,
    MONOTONE_INCREASING_FEATURES,
    PIP_PACKAGES,
    REGISTERED_MODEL,
    TrainingError,
    TrainingOptions,
)
from training.procurement_risk.plots import plot_precision_recall
from training.procurement_risk.register import champion_gate, signature_frame
from training.procurement_risk.split import TimeSplit, default_split
from training.tracking import (
    CHAMPION,
    GateDecision,
    experiment_id,
    finite_metrics,
    record_gate,
    register_challenger,
    start_tracking,
)

if TYPE_CHECKING:
    from distributed import Client


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


def train(
    settings: Settings,
    options: TrainingOptions,
    *,
    tracking_uri: str | None = None,
    quiet: bool = False,
    snapshot: Path | None = None,
    scheduler: str | None = None,
) -> TrainResult:
    """Build, fit, evaluate, log, register and gate (see the module docstring), on the
    store snapshot ``snapshot`` (None: the newest, written first if there is none). With a
    ``scheduler`` address, the features are built and the booster fitted on that Dask
    cluster (``training.distributed``); the rest runs here, as without one."""
    with ExitStack() as stack:
        cluster = stack.enter_context(cluster_client(scheduler)) if scheduler else None
        return _train(
            settings,
            options,
            tracking_uri=tracking_uri,
            quiet=quiet,
            snapshot=snapshot,
            cluster=cluster,
        )


def collusion_detector(client: Any, uri: str) -> tuple[CollusionDetector | None, str | None]:
    """The ``collusion`` champion's detector and version, or ``(None, None)`` when none is
    registered (the feature is then the CV rule)."""
    from mlflow.exceptions import MlflowException

    try:
        version = str(client.get_model_version_by_alias(COLLUSION_MODEL, CHAMPION).version)
    except MlflowException:
        return None, None
    return load_detector(uri, version), version


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
    detector, collusion_version = (None, None) if cluster else collusion_detector(client, uri)
    bar = tqdm(total=6, disable=quiet, unit="step")
    with _step(bar, "features"), open_training_snapshot(settings, snapshot, quiet=quiet) as data:
        frame = (
            snapshot_feature_frame(
                data,
                settings,
                collusion=detector,
                collusion_identity=collusion_identity(client, collusion_version),
            )
            if cluster is None
            else build_feature_frame_on_cluster(cluster, data, settings)
        )
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
        fit_booster = local_booster if cluster is None else partial(dask_booster, cluster)
        model = fit_risk_model(labelled, options, fit_booster=fit_booster)
        model.metadata.update(
            {
                "data_version": version_hash,
                "train_end": split.train_end.isoformat(),
                "calibration_end": split.calibration_end.isoformat(),
                DRIFT_REFERENCE: drift_reference(model, labelled)
                .with_data_version(version_hash)
                .to_dict(),
                FEATURE_SETTINGS_KEY: feature_settings_of(HistoryRules.from_settings(settings)),
                COLLUSION_KEY: (
                    None
                    if collusion_version is None
                    else {"name": COLLUSION_MODEL, "version": collusion_version}
                ),
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
                    "collusion_model_version": collusion_version or "none (CV rule)",
                }
            )
            mlflow.set_tags(
                {
                    "data_version": version_hash,
                    "snapshot": source.path.name,
                    "snapshot.data_version": source.data_version,
                    "executor": "local" if cluster is None else "dask",
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
