"""Coalition screens: classic screens over every subgroup of 3 or 4 bids of a tender.

Wallimann, Imhof and Huber (2023) find partial cartels this way: when competitive outsiders
bid beside a cartel, their bids dilute the whole-tender screens, but the subgroup made of the
cartel's bids alone still shows cover bids bunched together. For each tender and each subgroup
size ``k`` (``SUBGROUP_SIZES``), every ``k``-subset of its bids is screened, and the minimum,
maximum and mean over the subsets are kept:

| column (``k`` = 3 or 4) | screen of one subset ``s_1 ≤ … ≤ s_k`` | kept |
| --- | --- | --- |
| ``coalition{k}_cv_{min,max,mean}`` | sample std / mean | min, max, mean |
| ``coalition{k}_spread_{min,max}`` | ``s_k / s_1 − 1`` | min, max |
| ``coalition{k}_rd_{min,max}`` | ``(s_2 − s_1) / std(s_2 … s_k)`` (sample std) | min, max |

All are ratios of prices of one tender: currency and price level cancel. A tender with fewer
than ``k`` bids gets NaN for size ``k``; with exactly ``k`` bids min = max = mean. Only the
``MAX_BIDS`` lowest bids enter (C(12, 4) = 495 subsets per tender at most): the lowest bids
are where a cartel must sit to win, and the cost grows as ``n^k``.
"""

from __future__ import annotations

import warnings
from itertools import combinations

import numpy as np
import pandas as pd

from features.procurement.collusion.util import BidMatrix

SUBGROUP_SIZES = (3, 4)
MAX_BIDS = 12
STATISTICS = ("cv_min", "cv_max", "cv_mean", "spread_min", "spread_max", "rd_min", "rd_max")


def coalition_columns(sizes: tuple[int, ...] = SUBGROUP_SIZES) -> list[str]:
    return [f"coalition{k}_{stat}" for k in sizes for stat in STATISTICS]


DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "coalition3_cv_min": (
        "lowest coefficient of variation of any three bids of the tender; a low value means"
        " some three bidders priced almost alike even if others did not",
        "任意三家报价中最小的变异系数；数值偏低说明即使其他投标人正常报价，仍有三家报价几乎一致",
    ),
    "coalition4_cv_min": (
        "lowest coefficient of variation of any four bids of the tender",
        "任意四家报价中最小的变异系数",
    ),
    "coalition3_rd_max": (
        "largest relative distance (gap below the others / their std) of any three bids",
        "任意三家报价中最大的相对距离（最低价与其余报价的差距/其余报价标准差）",
    ),
}


def coalition_screens(
    bids: BidMatrix, *, sizes: tuple[int, ...] = SUBGROUP_SIZES, max_bids: int = MAX_BIDS
) -> pd.DataFrame:
    """One row per tender (``bids.index``), the columns of ``coalition_columns(sizes)``."""
    counts = np.minimum(bids.counts, max_bids)
    prices = bids.prices[:, :max_bids]
    columns = coalition_columns(sizes)
    out = np.full((len(bids.index), len(columns)), np.nan)
    for k in sizes:
        for n in np.unique(counts[counts >= k]):
            rows = np.flatnonzero(counts == n)
            subsets = prices[rows][:, np.array(list(combinations(range(int(n)), k)))]
            stats = _subset_statistics(subsets)
            for name, values in stats.items():
                out[rows, columns.index(f"coalition{k}_{name}")] = values
    return pd.DataFrame(out, index=bids.index, columns=columns)


def _subset_statistics(subsets: np.ndarray) -> dict[str, np.ndarray]:
    """``subsets``: (tenders, subsets, k), each subset sorted ascending; statistics per tender."""
    mean = subsets.mean(axis=2)
    cv = subsets.std(axis=2, ddof=1) / mean
    spread = subsets[..., -1] / subsets[..., 0] - 1.0
    losing_std = subsets[..., 1:].std(axis=2, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rd = (subsets[..., 1] - subsets[..., 0]) / np.where(losing_std > 0, losing_std, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rd of a tender stays NaN
        return {
            "cv_min": cv.min(axis=1),
            "cv_max": cv.max(axis=1),
            "cv_mean": cv.mean(axis=1),
            "spread_min": spread.min(axis=1),
            "spread_max": spread.max(axis=1),
            "rd_min": np.nanmin(rd, axis=1),
            "rd_max": np.nanmax(rd, axis=1),
        }
