"""Register the MLflow model ``collusion``: the candidates of ``training.collusion.champion``
compete, served, on leave one market out; the best is fitted on every training market,
registered, and gated against the current champion.

The gate (``training.tracking.compare_with_champion``): the challenger's figure is its mean
held-out ROC-AUC over the training markets (``champion.GATE_METRIC``); the champion's is the
same evaluation of *its* configuration (kind, feature set) on the same markets today, so the
alias ends on whichever transfers best. Only transfer counts: the fit on all markets is never
scored on a market it saw. Markets given as ``holdout`` (the demo world) are only ever
scored, by candidates fitted on all training markets, and never enter the gate.

MLflow: experiment ``collusion``; parameters, per-market metrics of every candidate, the
SHA-256 of every input file, the table as ``lomo.md`` and ``lomo.json``; the model as a pyfunc
(``models.collusion.pyfunc.CollusionPyfunc``: bid rows in, one probability per tender out)
with signature, input example and pinned requirements. The version carries the per-market
table of its own candidate as tags (``lomo.<market>.roc_auc`` …), ``candidate`` and the gate
figure; alias ``challenger``, ``champion`` when the gate promotes it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core.settings import Settings
from models.collusion.detector import DEFAULT_ROUNDS
from models.collusion.pyfunc import ARTIFACT_KEY, CollusionPyfunc
from training.collusion.champion import (
    CANDIDATES,
    GATE_METRIC,
    CandidateReport,
    candidate_detector,
    candidate_name,
    evaluate_candidates,
    fit_on,
    render_candidates,
)
from training.collusion.markets import Market
from training.tracking import (
    ChampionCannotScoreError,
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


@dataclass
class RegisteredRun:
    run_id: str
    model_version: str
    gate: GateDecision
    report: CandidateReport
    model: str


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


def _version_tags(report: CandidateReport, candidate: str) -> dict[str, str]:
    tags = {"candidate": candidate, GATE_METRIC: f"{report.gate_metric(candidate):.4f}"}
    for results in (report.lomo, report.holdout):
        for market, by_candidate in results.items():
            for metric in ("roc_auc", "pr_auc", "recall_at_review"):
                tags[f"lomo.{market}.{metric}"] = f"{by_candidate[candidate][metric]:.4f}"
    return tags


def train_and_register(
    settings: Settings,
    markets: Sequence[Market],
    *,
    holdout: Sequence[Market] = (),
    candidates: Sequence[str] = tuple(CANDIDATES),
    rounds: int = DEFAULT_ROUNDS,
    seed: int = 0,
    min_improvement: float = 0.0,
    tracking_uri: str | None = None,
) -> RegisteredRun:
    import mlflow
    from mlflow.models import infer_signature

    if len(markets) < 2:
        raise ValueError("registration needs at least two labelled training markets")
    report = evaluate_candidates(
        markets, holdout=holdout, candidates=candidates, rounds=rounds, seed=seed
    )
    best = report.best()
    challenger_metric = report.gate_metric(best)
    detector = fit_on(candidate_detector(best, rounds=rounds, seed=seed), markets)
    detector.metadata = {
        "trained_on": [m.name for m in markets],
        "candidate": best,
        GATE_METRIC: challenger_metric,
    }
    uri, client = start_tracking(settings, tracking_uri)
    with mlflow.start_run(experiment_id=experiment_id(EXPERIMENT, uri)) as run:
        mlflow.log_params(
            {
                "candidates": ",".join(candidates),
                "candidate": best,
                "kind": detector.kind,
                "feature_set": detector.feature_set,
                "rounds": rounds,
                "seed": seed,
                "trained_on": ",".join(m.name for m in markets),
                "holdout_only": ",".join(m.name for m in holdout),
            }
        )
        for market in [*markets, *holdout]:
            mlflow.set_tag(f"data_version.{market.name}", sha256(market))
        metrics = {f"{GATE_METRIC}.{c}": report.gate_metric(c) for c in candidates}
        metrics[GATE_METRIC] = challenger_metric
        for results in (report.lomo, report.holdout):
            for market_name, by_candidate in results.items():
                for name, values in by_candidate.items():
                    for metric, value in values.items():
                        metrics[f"lomo.{market_name}.{name}.{metric}"] = value
        mlflow.log_metrics(finite_metrics(metrics))
        mlflow.log_text(render_candidates(report, champion=best), "lomo.md")
        mlflow.log_dict(report.to_dict(), "lomo.json")
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
        for key, value in _version_tags(report, best).items():
            client.set_model_version_tag(REGISTERED_MODEL, version, key, value)

        def champion_lomo(loaded: Any) -> float:
            champion = candidate_name(loaded.unwrap_python_model().detector)
            if champion not in CANDIDATES:
                raise ChampionCannotScoreError(f"{champion} is no longer a candidate")
            if champion in candidates:
                return report.gate_metric(champion)
            again = evaluate_candidates(markets, candidates=(champion,), rounds=rounds, seed=seed)
            return again.gate_metric(champion)

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
        run_id=str(run.info.run_id), model_version=version, gate=gate, report=report, model=best
    )
