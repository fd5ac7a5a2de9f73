"""Evaluation, in the same run on the same test months: the model (calibrated probability)
against the count of red flags fired, the unsupervised score alone and the collusion score
alone (``features.procurement.collusion.point_in_time``, never fitted on labels). Per scorer: PR-AUC
(average precision) and ROC-AUC on the audited test processes; precision and recall when the
top ``review_capacity`` share of *all* test processes is alerted (ties at the cut share the
remaining budget fractionally); recall per planted scheme at the same capacity (from
``<truth_dir>/process_schemes.csv`` when the folder exists: evaluation only, never a feature);
for the model also the Brier score (calibrated and raw LightGBM probability) and a
reliability table and plot.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from core.settings import Settings
from features.procurement.collusion.point_in_time import COLLUSION_SCORE
from models.procurement.alerts import DECISION_DATE, OCID, red_flag_columns
from models.procurement.model import NO_WARNING, RiskModel
from training.metrics.binary import roc_auc
from training.metrics.procurement import (
    brier_score,
    pr_auc,
    precision_recall_at_k,
    recall_by_group,
    reliability_table,
    top_k_weights,
)
from training.procurement_risk.labels import LABEL
from world.layout import TRUTH_PROCESS_SCHEMES

RED_FLAG_COUNT = "red_flag_count"


SCORERS: dict[str, str] = {
    "model": "LightGBM, calibrated probability",
    "red_flag_count": "count of red flags fired (baseline)",
    "unsupervised": "isolation-forest score alone (baseline)",
    "collusion": "collusion score alone (CV rule against earlier tenders; baseline)",
}


def read_truth(settings: Settings) -> pd.Series | None:
    """Planted scheme per ocid from the truth folder (evaluation only), or None."""
    path = settings.resolved_truth_dir / TRUTH_PROCESS_SCHEMES
    if not path.is_file():
        return None
    truth = pd.read_csv(path, dtype=str)
    return truth.drop_duplicates("ocid").set_index("ocid")["scheme"]


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


def collusion_score(frame: pd.DataFrame) -> np.ndarray:
    """The collusion-score baseline: ``collusion_score``, 0 where missing (fewer than three
    bids or no reference) or where the frame predates the feature."""
    if COLLUSION_SCORE not in frame.columns:
        return np.zeros(len(frame))
    return frame[COLLUSION_SCORE].astype(float).fillna(0.0).to_numpy()


def scorer_scores(model: RiskModel, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    matrix = model.matrix(frame)
    return {
        "model": model.calibrator.transform(model.raw_score_matrix(matrix)),
        "red_flag_count": red_flag_count(frame),
        "unsupervised": model.unsupervised_score_matrix(matrix),
        "collusion": collusion_score(frame),
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
