"""A single ranked screen as a detector: no weight is fitted, only which screen and which way.

Input: ranked columns (``*_market_rank``, 0–1 percentiles within the scored market). The
score is the percentile itself (``sign`` +1: a higher screen is more suspicious) or one minus
it (``sign`` −1, e.g. the coefficient of variation: bids closer together than usual), so it
lies in 0..1 and means the same in every market. NaN (a screen undefined for the tender, or
no reference to rank against) scores 0.5, the market median.

``fit`` keeps ``candidates`` that name one screen and ``sign`` when given (the CV rule: one
screen, −1) and otherwise picks the screen and direction with the highest mean ROC-AUC over
the training markets (each market weighs the same, whatever its size).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score


def _auc(labels: np.ndarray, values: np.ndarray) -> float:
    if np.unique(labels).size < 2:
        return float("nan")
    return float(roc_auc_score(labels, values))


@dataclass
class ScreenRule:
    """Keyword-only settings ``candidates`` and ``sign``; learned ``column_`` and ``sign_``."""

    candidates: tuple[str, ...] = ()
    sign: float | None = None
    column_: str | None = None
    sign_: float = 1.0

    def fit(self, screens: pd.DataFrame, labels: np.ndarray, *, markets: np.ndarray) -> ScreenRule:
        if not self.candidates:
            raise ValueError("ScreenRule needs at least one candidate screen")
        best: tuple[float, str, float] = (-1.0, self.candidates[0], self.sign or 1.0)
        for column in self.candidates:
            values = screens[column].fillna(0.5).to_numpy(dtype=float)
            aucs = [_auc(labels[markets == m], values[markets == m]) for m in np.unique(markets)]
            finite = [a for a in aucs if not np.isnan(a)]
            if not finite:
                continue
            auc = float(np.mean(finite))
            sign = self.sign if self.sign is not None else (1.0 if auc >= 0.5 else -1.0)
            strength = auc if sign > 0 else 1.0 - auc
            if strength > best[0]:
                best = (strength, column, sign)
        _, self.column_, self.sign_ = best
        return self

    def predict_proba(self, screens: pd.DataFrame) -> np.ndarray:
        """The screen's percentile (or one minus it), NaN as 0.5; shape (rows,)."""
        if self.column_ is None:
            raise RuntimeError("ScreenRule.predict_proba before fit")
        values = screens[self.column_].fillna(0.5).to_numpy(dtype=float)
        return values if self.sign_ > 0 else 1.0 - values

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidates": list(self.candidates),
            "sign": self.sign,
            "column_": self.column_,
            "sign_": self.sign_,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScreenRule:
        return cls(
            candidates=tuple(data["candidates"]),
            sign=data["sign"],
            column_=data["column_"],
            sign_=float(data["sign_"]),
        )
