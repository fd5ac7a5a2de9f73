"""Fit the bid-rigging detector on every labelled training market, register it as the MLflow
model ``collusion`` and gate it on the leave-one-market-out metric.

The gate (``training.tracking.compare_with_champion``): the challenger's figure is the mean
ROC-AUC over held-out markets of its configuration (kind, feature set, parameters) under
leave one market out on today's markets; the champion's is the same evaluation of *its*
configuration on the same markets. Only transfer counts: the fit on all markets is never
scored on a market it saw. Markets given as ``holdout`` (the demo world) are only ever
scored, by models fitted on all training markets.

MLflow: experiment ``collusion``; parameters, per-market LOMO metrics, the SHA-256 of every
input file, the LOMO table as ``lomo.md``; the model as a pyfunc
(``models.collusion.pyfunc.CollusionPyfunc``: bid rows in, one probability per tender out)
with signature, input example and pinned requirements; alias ``challenger``, ``champion``
when the gate promotes it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.settings import Settings
from models.collusion.detector import DEFAULT_PARAMS, DEFAULT_ROUNDS, CollusionDetector
from models.collusion.pyfunc import ARTIFACT_KEY, CollusionPyfunc
from training.collusion.markets import Market
from training.collusion.transfer import (
    EvaluationOptions,
    TransferReport,
    evaluate_transfer,
    render_transfer,
)
from training.tracking import (
    GateDecision,
    compare_with_champion,
    experiment_id,
    finite_metrics,
    record_gate,
    register_challenger,
    start_tracking,
)

EXPERIMENT = "collusion"
REGISTERED_MODEL = "collusion"
PIP_PACKAGES = ("lodestar", "lightgbm", "scikit-learn", "pandas", "numpy", "mlflow")
DEFAULT_KIND = "consistent_logistic"
DEFAULT_FEATURE_SET = "ranked"
GATE_METRIC = "lomo_mean_roc_auc"


@dataclass
class RegisteredRun:
    run_id: str
    model_version: str
    gate: GateDecision
    report: TransferReport
    model: str


def _model_key(detector: CollusionDetector) -> str:
    return (
        detector.kind
        if detector.kind == "consistent_logistic"
        else f"lightgbm_{detector.feature_set}"
    )


def lomo_of(
    detector: CollusionDetector,
    markets: Sequence[Market],
    holdout: Sequence[Market],
    *,
    seed: int,
) -> TransferReport:
    """Leave one market out for ``detector``'s configuration only (no within-market CV)."""
    options = EvaluationOptions(rounds=detector.rounds, seed=seed, models=(_model_key(detector),))
    return evaluate_transfer(markets, options, holdout_only=holdout, within=False)


def sha256(market: Market) -> str:
    return hashlib.sha256(market.source.read_bytes()).hexdigest()


def example_bids(market: Market) -> pd.DataFrame:
    """A tiny bid-level input (two tenders of the first market) for the signature."""
    rows = []
    for tender, relative in market.screens[["relative_bid_2", "relative_bid_3"]].head(2).iterrows():
        rows += [(str(tender), 100.0)] + [
            (str(tender), 100.0 * (1 + float(r))) for r in relative if not math.isnan(r)
        ]
    return pd.DataFrame(rows, columns=["tender", "price"])


def train_and_register(
    settings: Settings,
    markets: Sequence[Market],
    *,
    holdout: Sequence[Market] = (),
    kind: str = DEFAULT_KIND,
    feature_set: str = DEFAULT_FEATURE_SET,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = 0,
    min_improvement: float = 0.0,
    tracking_uri: str | None = None,
) -> RegisteredRun:
    import mlflow
    from mlflow.models import infer_signature

    if len(markets) < 2:
        raise ValueError("registration needs at least two labelled training markets")
    detector = CollusionDetector(
        kind=kind, feature_set=feature_set, params=dict(DEFAULT_PARAMS), rounds=rounds, seed=seed
    )
    report = lomo_of(detector, markets, holdout, seed=seed)
    model = _model_key(detector)
    challenger_metric = report.lomo_mean(model)
    screens = pd.concat([m.screens for m in markets], ignore_index=True)
    labels = np.concatenate([np.asarray(m.labels) for m in markets])
    names = np.concatenate([np.full(len(m.screens), m.name) for m in markets])
    detector.metadata = {
        "trained_on": [m.name for m in markets],
        GATE_METRIC: challenger_metric,
    }
    detector.fit(screens, labels, markets=names)
    uri, client = start_tracking(settings, tracking_uri)
    with mlflow.start_run(experiment_id=experiment_id(EXPERIMENT, uri)) as run:
        mlflow.log_params(
            {
                "kind": kind,
                "feature_set": feature_set,
                "rounds": rounds,
                "seed": seed,
                "trained_on": ",".join(m.name for m in markets),
                "holdout_only": ",".join(m.name for m in holdout),
            }
        )
        for market in [*markets, *holdout]:
            mlflow.set_tag(f"data_version.{market.name}", sha256(market))
        metrics = {GATE_METRIC: challenger_metric}
        for held_out, results in report.lomo.items():
            for metric, value in results[model].items():
                if metric != "note":
                    metrics[f"lomo.{held_out}.{metric}"] = value
        mlflow.log_metrics(finite_metrics(metrics))
        mlflow.log_text(render_transfer(report), "lomo.md")
        example = example_bids(markets[0])
        version = register_challenger(
            client,
            REGISTERED_MODEL,
            detector,
            CollusionPyfunc(),
            artifact_key=ARTIFACT_KEY,
            packages=PIP_PACKAGES,
            signature=infer_signature(example, detector.score_bids(example)),
            input_example=example,
        )

        def champion_lomo(loaded: Any) -> float:
            champion: CollusionDetector = loaded.unwrap_python_model().detector
            config = CollusionDetector(
                kind=champion.kind,
                feature_set=champion.feature_set,
                params=champion.params,
                rounds=champion.rounds,
                seed=champion.seed,
            )
            return lomo_of(config, markets, holdout, seed=seed).lomo_mean(_model_key(config))

        gate = compare_with_champion(
            client,
            REGISTERED_MODEL,
            challenger_metric,
            champion_lomo,
            min_improvement=min_improvement,
            metric_name="LOMO mean ROC-AUC",
        )
        record_gate(client, REGISTERED_MODEL, version, gate, metric_key=GATE_METRIC)
    return RegisteredRun(
        run_id=str(run.info.run_id), model_version=version, gate=gate, report=report, model=model
    )
