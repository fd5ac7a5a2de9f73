"""Shared helper of the collusion screens: a tender's bids as one sorted row of a matrix.

Every screen family works on ``BidMatrix``: one row per tender, the bids sorted ascending
and padded on the right with NaN, so screens are computed for all tenders at once with numpy
(no Python loop per tender).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


class CollusionInputError(ValueError):
    """Bids that cannot be screened: a column is missing or a price is not finite and > 0."""


@dataclass(frozen=True)
class BidMatrix:
    """``prices``: shape (tenders, widest tender), row ``t`` holds tender ``index[t]``'s bids
    sorted ascending then NaN; ``counts``: bids per tender (int, ≥ 1)."""

    index: pd.Index
    prices: np.ndarray
    counts: np.ndarray

    @property
    def lowest(self) -> np.ndarray:
        return self.prices[:, 0]

    def relative(self) -> np.ndarray:
        """Each bid over the tender's lowest, minus 1 (0 for the lowest; NaN padding kept):
        the currency and price level cancel, only the shape of the bid vector is left."""
        return self.prices / self.lowest[:, None] - 1.0


def bid_matrix(frame: pd.DataFrame, *, tender_col: str, price_col: str) -> BidMatrix:
    """The sorted bid matrix of a bid-level frame (one row per bid); tenders in sorted order."""
    missing = [c for c in (tender_col, price_col) if c not in frame.columns]
    if missing:
        raise CollusionInputError(f"bid frame lacks column(s) {missing}")
    prices = pd.to_numeric(frame[price_col], errors="coerce").to_numpy(dtype=float)
    unusable = ~np.isfinite(prices) | (prices <= 0)
    if unusable.any():
        raise CollusionInputError(
            f"{int(unusable.sum())} bid(s) in {price_col!r} are missing, not numeric or"
            " not positive"
        )
    bids = pd.DataFrame({"tender": frame[tender_col].to_numpy(), "price": prices})
    bids = bids.sort_values(["tender", "price"], kind="stable", ignore_index=True)
    position = bids.groupby("tender", sort=True).cumcount().to_numpy()
    codes, index = pd.factorize(bids["tender"], sort=True)
    counts = np.bincount(codes, minlength=len(index))
    matrix = np.full((len(index), int(counts.max()) if len(index) else 0), np.nan)
    matrix[codes, position] = bids["price"].to_numpy()
    return BidMatrix(index=pd.Index(index, name=tender_col), prices=matrix, counts=counts)


def nan_where(values: np.ndarray, condition: np.ndarray) -> np.ndarray:
    """``values`` with NaN where ``condition`` holds (a screen undefined for that tender)."""
    return np.where(condition, np.nan, values)
