"""The ablation's redrawn audits: a scorer is judged on the truth it ranks, not on the luck of
which schemes one audit confirmed."""

from __future__ import annotations

import numpy as np
import pytest

from training.feedback.risk_ablation import redrawn_pr_auc

SCHEMED = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
# this one audit confirmed the two schemes the lucky scorer puts first
LABELS = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])


def test_luck_in_one_audit_draw_does_not_beat_ranking_every_scheme_first() -> None:
    schemes_first = np.array([0.9, 0.8, 0.7, 0.6, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    # the two confirmed on top, the two unconfirmed schemes below every clean process
    lucky = np.array([0.9, 0.8, 0.01, 0.02, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1])
    assert redrawn_pr_auc(SCHEMED, LABELS, schemes_first) > redrawn_pr_auc(SCHEMED, LABELS, lucky)


def test_schemes_first_stays_below_one_while_some_schemes_go_unconfirmed() -> None:
    """Every drawn positive is a scheme and every scheme outranks every clean process, but the
    unconfirmed schemes sit among them: PR-AUC below one, above the confirmed share."""
    ranked = np.array([0.9, 0.8, 0.7, 0.6, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    value = redrawn_pr_auc(SCHEMED, LABELS, ranked)
    assert 0.5 < value < 1.0
    assert redrawn_pr_auc(SCHEMED, LABELS, ranked) == pytest.approx(value)  # same draws
