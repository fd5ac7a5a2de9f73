"""A logistic regression on the market-ranked screens whose direction every training market
agrees on.

Why: across the Swiss, Brazilian and demo-world markets most screens point in opposite
directions (a Swiss cartel tender has *more* bids than a competitive one, a Brazilian one
fewer), and a flexible model fitted on two markets learns those market-specific directions
and scores the third below chance. Keeping only the screens whose single-screen ROC-AUC lies
on the same side of 0.5, by at least ``min_margin``, in *every* training market is the
transfer assumption made explicit: a sign is trusted only if it held everywhere it was seen.
Coefficients are then bounded to that sign (a coefficient fitted against it is dropped to 0
by refitting without the screen).

Input: ranked columns (``*_market_rank``, 0–1); NaN becomes 0.5 (the market median). The
learned state (columns, coefficients, intercept) is plain lists, so it serialises as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from features.procurement.collusion import RANKED

MIN_MARGIN = 0.02
C = 1.0


def _auc(labels: np.ndarray, values: np.ndarray) -> float:
    if np.unique(labels).size < 2:
        return float("nan")
    return float(roc_auc_score(labels, values))


@dataclass
class ConsistentLogistic:
    """Keyword-only settings; learned ``columns_``, ``signs_``, ``coef_``, ``intercept_``."""

    candidates: tuple[str, ...] = RANKED
    min_margin: float = MIN_MARGIN
    c: float = C
    columns_: list[str] = field(default_factory=list)
    signs_: list[float] = field(default_factory=list)
    coef_: list[float] = field(default_factory=list)
    intercept_: float = 0.0

    def consistent_screens(
        self, screens: pd.DataFrame, labels: np.ndarray, markets: np.ndarray
    ) -> dict[str, float]:
        """``{column: +1 or −1}`` for the candidates every market agrees on."""
        agreed: dict[str, float] = {}
        for column in self.candidates:
            values = screens[column].fillna(0.5).to_numpy(dtype=float)
            aucs = [_auc(labels[markets == m], values[markets == m]) for m in np.unique(markets)]
            aucs = [a for a in aucs if not np.isnan(a)]
            if aucs and all(a >= 0.5 + self.min_margin for a in aucs):
                agreed[column] = 1.0
            elif aucs and all(a <= 0.5 - self.min_margin for a in aucs):
                agreed[column] = -1.0
        return agreed

    def fit(
        self,
        screens: pd.DataFrame,
        labels: np.ndarray,
        *,
        markets: np.ndarray,
        sample_weight: np.ndarray | None = None,
    ) -> ConsistentLogistic:
        labels = np.asarray(labels)
        markets = np.asarray(markets)
        agreed = self.consistent_screens(screens, labels, markets)
        columns = list(agreed)
        while columns:
            model = LogisticRegression(C=self.c, max_iter=2000)
            model.fit(
                screens[columns].fillna(0.5).to_numpy(dtype=float),
                labels,
                sample_weight=sample_weight,
            )
            against = [
                col for col, w in zip(columns, model.coef_[0], strict=True) if w * agreed[col] < 0
            ]
            if not against:
                self.columns_ = columns
                self.signs_ = [agreed[c] for c in columns]
                self.coef_ = [float(w) for w in model.coef_[0]]
                self.intercept_ = float(model.intercept_[0])
                return self
            columns = [c for c in columns if c not in against]
        self.columns_, self.signs_, self.coef_ = [], [], []
        share = float(np.average(labels, weights=sample_weight))
        self.intercept_ = float(np.log(share / (1.0 - share))) if 0 < share < 1 else 0.0
        return self

    def predict_proba(self, screens: pd.DataFrame) -> np.ndarray:
        logit = np.full(len(screens), self.intercept_)
        if self.columns_:
            logit = logit + screens[self.columns_].fillna(0.5).to_numpy(dtype=float) @ np.array(
                self.coef_
            )
        return 1.0 / (1.0 + np.exp(-logit))

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidates": list(self.candidates),
            "min_margin": self.min_margin,
            "c": self.c,
            "columns_": self.columns_,
            "signs_": self.signs_,
            "coef_": self.coef_,
            "intercept_": self.intercept_,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConsistentLogistic:
        return cls(**{**data, "candidates": tuple(data["candidates"])})
