"""Evaluation metrics for binary detectors, as small pure functions on 1-d arrays.

``y_true`` holds 0/1 labels (1 = the positive class, e.g. a collusive tender), ``scores``
any real-valued ranking where higher means more suspicious, ``y_pred`` 0/1 decisions. Every
function returns NaN instead of raising when a metric is undefined (one class only, empty
input), so that a fold without positives shows up as a gap, not a crash.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from sklearn.metrics import roc_auc_score

ArrayLike = npt.ArrayLike


def _labels(y_true: ArrayLike) -> npt.NDArray[np.bool_]:
    labels = np.asarray(y_true)
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    return labels.astype(bool)


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Share of decisions equal to the label."""
    truth, decided = _labels(y_true), _labels(y_pred)
    return float((truth == decided).mean()) if truth.size else math.nan


def balanced_accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean of the true-positive rate and the true-negative rate; 0.5 for a constant guess
    whatever the class balance (plain accuracy of "always positive" is the positive share)."""
    truth, decided = _labels(y_true), _labels(y_pred)
    if truth.all() or not truth.any():
        return math.nan
    return float((decided[truth].mean() + (~decided[~truth]).mean()) / 2)


def roc_auc(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Probability that a random positive is scored above a random negative (ties count half)."""
    truth = _labels(y_true)
    if truth.all() or not truth.any():
        return math.nan
    return float(roc_auc_score(truth, np.asarray(scores, dtype=float)))


def _top_k(scores: ArrayLike, k: int) -> npt.NDArray[np.intp]:
    if k < 1:
        raise ValueError("k must be at least 1")
    # stable sort on the negated scores: among equal scores the earlier item ranks first
    return np.argsort(-np.asarray(scores, dtype=float), kind="stable")[:k]


def precision_at_k(y_true: ArrayLike, scores: ArrayLike, k: int) -> float:
    """Share of positives among the k highest-scored items (k capped at the number of items)."""
    truth = _labels(y_true)
    return float(truth[_top_k(scores, k)].mean()) if truth.size else math.nan


def recall_at_k(y_true: ArrayLike, scores: ArrayLike, k: int) -> float:
    """Share of all positives found among the k highest-scored items."""
    truth = _labels(y_true)
    if not truth.any():
        return math.nan
    return float(truth[_top_k(scores, k)].sum() / truth.sum())


def mean_and_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (divisor n − 1) of per-fold values, NaNs skipped;
    the sd is NaN with fewer than two values."""
    finite = np.asarray([value for value in values if not math.isnan(value)], dtype=float)
    if finite.size == 0:
        return math.nan, math.nan
    sd = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
    return float(finite.mean()), sd
