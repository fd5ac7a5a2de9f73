"""Screens of the bid vector normalised within its tender (each bid over the lowest bid).

With ``r_i = b_i / b_1 − 1`` for the bids sorted ascending (``r_1 = 0``), every screen below
depends on the shape of the bid vector only: multiplying all bids of a tender by a constant
(another currency, another price level, a bigger job) leaves it unchanged. Cover bids of a
cartel sit in a tight cluster above the designated winner; these screens look at that
cluster (the losing bids ``b_2 … b_n``) and at the winner's distance from it.

| column | formula | needs |
| --- | --- | --- |
| ``losing_cv`` | sample std / mean of ``b_2 … b_n`` | 3 |
| ``losing_median_to_lowest`` | ``median(b_2 … b_n) / b_1 − 1`` | 2 |
| ``first_gap_share`` | ``(b_2 − b_1) / (b_n − b_1)``: the winner's gap in the range | 3 |
| ``losing_gap_mean`` | ``(b_n − b_2) / ((n − 2) · b_1)``: mean gap of the losing bids | 3 |

``sorted_relative_bids`` gives the sorted vector itself, ``r_2 … r_{k+1}`` padded with NaN, the
input of the permutation-invariant set model (sorting makes it independent of bid order).
A screen whose denominator is zero (all losing bids equal, all bids equal) is NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.procurement.collusion.util import BidMatrix, nan_where

LOSING_CV = "losing_cv"
LOSING_MEDIAN_TO_LOWEST = "losing_median_to_lowest"
FIRST_GAP_SHARE = "first_gap_share"
LOSING_GAP_MEAN = "losing_gap_mean"

NORMALISED_SCREENS = (LOSING_CV, LOSING_MEDIAN_TO_LOWEST, FIRST_GAP_SHARE, LOSING_GAP_MEAN)

DESCRIPTIONS: dict[str, tuple[str, str]] = {
    LOSING_CV: (
        "coefficient of variation of the losing bids; low values mean cover bids placed close"
        " together",
        "未中标报价的变异系数；数值偏低说明陪标报价彼此接近",
    ),
    LOSING_MEDIAN_TO_LOWEST: (
        "median losing bid over the lowest bid, minus one",
        "未中标报价中位数相对最低价的溢价率",
    ),
    FIRST_GAP_SHARE: (
        "share of the bid range taken by the gap between the lowest and second bid; high"
        " values mean a winner set apart below a cluster of cover bids",
        "最低两家报价差占报价极差的比例；数值偏高说明中标价与聚集的陪标报价明显拉开",
    ),
    LOSING_GAP_MEAN: (
        "mean gap between adjacent losing bids, as a share of the lowest bid",
        "未中标报价相邻间距的平均值（相对最低价）",
    ),
}


def normalised_screens(bids: BidMatrix) -> pd.DataFrame:
    """One row per tender (``bids.index``), the columns of ``NORMALISED_SCREENS``."""
    n = bids.counts.astype(float)
    relative = bids.relative()
    losing = bids.prices[:, 1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        losing_mean = np.nansum(losing, axis=1) / (n - 1)
        losing_std = _nanstd_sample(losing)
        highest = relative[np.arange(n.size), bids.counts - 1]
        second = relative[:, 1] if relative.shape[1] > 1 else np.full(n.size, np.nan)
        median = _nanmedian(relative[:, 1:])
        first_gap_share = second / np.where(highest > 0, highest, np.nan)
        losing_gap_mean = (highest - second) / (n - 2)
        losing_cv = losing_std / losing_mean
    return pd.DataFrame(
        {
            LOSING_CV: nan_where(losing_cv, n < 3),
            LOSING_MEDIAN_TO_LOWEST: nan_where(median, n < 2),
            FIRST_GAP_SHARE: nan_where(first_gap_share, n < 3),
            LOSING_GAP_MEAN: nan_where(losing_gap_mean, n < 3),
        },
        index=bids.index,
    )


def sorted_relative_bids(bids: BidMatrix, *, width: int = 8) -> pd.DataFrame:
    """Columns ``relative_bid_2 … relative_bid_{width+1}``: ``r_2 …`` of each tender, NaN
    beyond its bids (a tender with more bids keeps its ``width`` lowest losing bids)."""
    relative = bids.relative()[:, 1 : width + 1]
    padded = np.full((relative.shape[0], width), np.nan)
    padded[:, : relative.shape[1]] = relative
    columns = [f"relative_bid_{k}" for k in range(2, width + 2)]
    return pd.DataFrame(padded, index=bids.index, columns=columns)


def _nanstd_sample(values: np.ndarray) -> np.ndarray:
    count = np.sum(np.isfinite(values), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.nansum(values, axis=1) / count
        squares = np.nansum((values - mean[:, None]) ** 2, axis=1)
        return np.where(count >= 2, np.sqrt(squares / (count - 1)), np.nan)


def _nanmedian(values: np.ndarray) -> np.ndarray:
    if values.shape[1] == 0:
        return np.full(values.shape[0], np.nan)
    out = np.full(values.shape[0], np.nan)
    some = np.isfinite(values).any(axis=1)
    out[some] = np.nanmedian(values[some], axis=1)
    return out
