"""Metrics on tiny cases computed by hand."""

from __future__ import annotations

import math

import pytest

from training.metrics.binary import (
    accuracy,
    balanced_accuracy,
    mean_and_sd,
    precision_at_k,
    recall_at_k,
    roc_auc,
)

# five items: positives at positions 0, 2, 3; scores rank them 0 > 1 > 2 > 3 > 4
TRUTH = [1, 0, 1, 1, 0]
SCORES = [0.9, 0.8, 0.7, 0.2, 0.1]


def test_accuracy() -> None:
    assert accuracy(TRUTH, [1, 1, 1, 0, 0]) == pytest.approx(3 / 5)


def test_balanced_accuracy() -> None:
    # TPR 2/3 (positions 0, 2 of 0, 2, 3), TNR 1/2 (position 4 of 1, 4)
    assert balanced_accuracy(TRUTH, [1, 1, 1, 0, 0]) == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert balanced_accuracy(TRUTH, [1] * 5) == pytest.approx(0.5)


def test_roc_auc() -> None:
    # positive/negative pairs (6): (0,1) (0,4) (2,4) (3,4) ordered right; (2,1) (3,1) wrong
    assert roc_auc(TRUTH, SCORES) == pytest.approx(4 / 6)
    assert roc_auc([1, 0], [0.5, 0.5]) == pytest.approx(0.5)


def test_precision_and_recall_at_k() -> None:
    assert precision_at_k(TRUTH, SCORES, 1) == 1.0
    assert precision_at_k(TRUTH, SCORES, 2) == pytest.approx(1 / 2)
    assert precision_at_k(TRUTH, SCORES, 4) == pytest.approx(3 / 4)
    assert recall_at_k(TRUTH, SCORES, 3) == pytest.approx(2 / 3)
    assert recall_at_k(TRUTH, SCORES, 10) == 1.0


def test_ties_in_top_k_keep_input_order() -> None:
    assert precision_at_k([0, 1], [0.5, 0.5], 1) == 0.0


def test_undefined_metrics_are_nan() -> None:
    assert math.isnan(roc_auc([1, 1], [0.2, 0.3]))
    assert math.isnan(balanced_accuracy([0, 0], [0, 1]))
    assert math.isnan(recall_at_k([0, 0], [0.2, 0.3], 1))
    assert math.isnan(accuracy([], []))


def test_labels_must_be_binary() -> None:
    with pytest.raises(ValueError, match="0 or 1"):
        accuracy([2, 0], [1, 0])
    with pytest.raises(ValueError, match="at least 1"):
        precision_at_k(TRUTH, SCORES, 0)


def test_mean_and_sd() -> None:
    mean, sd = mean_and_sd([1.0, 2.0, 3.0, math.nan])
    assert mean == pytest.approx(2.0)
    assert sd == pytest.approx(1.0)
    assert math.isnan(mean_and_sd([4.0])[1])
    assert all(math.isnan(value) for value in mean_and_sd([]))
