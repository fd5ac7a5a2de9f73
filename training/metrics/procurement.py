"""Metrics of the procurement risk evaluation, as small pure functions on 1-d arrays.

Conventions beyond ``training.metrics.binary``: ``labels`` may hold NaN for processes nobody audited
(they count towards the alert budget but not towards precision); higher scores are more
suspicious; alerting the top ``k`` of a ranking with ties at the cut includes each tied item
with the same fractional weight, so that a coarse score (a count of red flags) is neither
favoured nor penalised by the order the rows happen to be in.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import average_precision_score

FloatArray = npt.NDArray[np.float64]


def _float(values: npt.ArrayLike) -> FloatArray:
    return np.asarray(values, dtype=float)


def pr_auc(y_true: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Area under the precision–recall curve as average precision (step-wise, no
    interpolation); NaN without a positive. Rows with a NaN label are left out."""
    labels, ranking = _float(y_true), _float(scores)
    known = ~np.isnan(labels)
    labels, ranking = labels[known], ranking[known]
    if not (labels == 1).any():
        return math.nan
    return float(average_precision_score(labels.astype(int), ranking))


def brier_score(y_true: npt.ArrayLike, probability: npt.ArrayLike) -> float:
    """Mean squared difference between probability and the 0/1 label (labelled rows only)."""
    labels, p = _float(y_true), _float(probability)
    known = ~np.isnan(labels)
    if not known.any():
        return math.nan
    return float(np.mean((p[known] - labels[known]) ** 2))


def top_k_weights(scores: npt.ArrayLike, k: float) -> FloatArray:
    """Inclusion weight of each item in the top ``k`` (0 or 1, fractional for ties at the cut);
    the weights sum to ``min(k, n)``. NaN scores rank last."""
    ranking = np.nan_to_num(_float(scores), nan=-np.inf)
    n = ranking.size
    k = min(max(float(k), 0.0), float(n))
    weights = np.zeros(n)
    if n == 0 or k == 0:
        return weights
    cut = np.sort(ranking)[::-1][math.ceil(k) - 1]
    above = ranking > cut
    tied = ranking == cut
    weights[above] = 1.0
    weights[tied] = (k - above.sum()) / tied.sum()
    return weights


def precision_recall_at_k(
    y_true: npt.ArrayLike, scores: npt.ArrayLike, k: float
) -> tuple[float, float]:
    """Precision (confirmed among the alerted that were audited) and recall (share of all
    confirmed that were alerted) when the top ``k`` of all rows are alerted."""
    labels = _float(y_true)
    weights = top_k_weights(scores, k)
    positive = labels == 1
    audited = ~np.isnan(labels)
    alerted_audited = float(weights[audited].sum())
    precision = float(weights[positive].sum()) / alerted_audited if alerted_audited else math.nan
    recall = float(weights[positive].sum() / positive.sum()) if positive.any() else math.nan
    return precision, recall


def recall_by_group(groups: npt.ArrayLike, weights: npt.ArrayLike) -> dict[str, float]:
    """Per group (e.g. a planted scheme; None/NaN/"" rows are ignored), the weighted share of
    its rows that were alerted (``weights`` from ``top_k_weights``)."""
    frame = pd.DataFrame({"group": pd.Series(groups, dtype=object), "weight": _float(weights)})
    frame = frame[frame["group"].notna() & (frame["group"] != "")]
    return {str(group): float(rows.mean()) for group, rows in frame.groupby("group")["weight"]}


def reliability_table(
    y_true: npt.ArrayLike, probability: npt.ArrayLike, *, bins: int = 10
) -> pd.DataFrame:
    """Calibration by equal-width probability bins on the labelled rows: ``bin_low``,
    ``bin_high``, ``count``, ``mean_probability``, ``observed_rate`` (empty bins left out)."""
    labels, p = _float(y_true), _float(probability)
    known = ~np.isnan(labels)
    labels, p = labels[known], p[known]
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1], right=True), 0, bins - 1)
    rows = [
        {
            "bin_low": edges[b],
            "bin_high": edges[b + 1],
            "count": int((index == b).sum()),
            "mean_probability": float(p[index == b].mean()),
            "observed_rate": float(labels[index == b].mean()),
        }
        for b in range(bins)
        if (index == b).any()
    ]
    columns = ["bin_low", "bin_high", "count", "mean_probability", "observed_rate"]
    return pd.DataFrame(rows, columns=columns)
