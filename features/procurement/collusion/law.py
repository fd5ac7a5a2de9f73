"""Collusion signs named by Chinese law, as features where the bids can carry them.

Implementing Regulations of the Bidding Law of the PRC (招标投标法实施条例):

* art. 40 lists cases deemed (视为) collusion among bidders, among them (四) "投标文件异常一致或者
  投标报价呈规律性差异": bid documents unusually alike, or prices differing in a regular
  pattern. From prices alone: ``law40_regular_price_pattern`` (the sorted bids step up by the
  same amount, or by the same ratio, within ``REGULAR_TOLERANCE``) and
  ``law40_identical_prices`` (two or more bids of exactly the same amount);
  ``adjacent_gap_cv`` is the measurement behind the first (coefficient of variation of the
  gaps between adjacent sorted bids; 0 for perfectly regular steps).
* art. 44: with fewer than three bidders the bids must not be opened and the tender is run
  again (``law44_fewer_than_three_bidders``). Collusion screens need three bids, so the other
  features are NaN there; the flag says why.

Not carried by bid files: art. 40 (一)(二)(三)(五)(六) — documents prepared by the same unit or
person, one agent handling several bids, the same project manager, documents mixed up,
deposits from the same account. They need party data (shared contacts, bank accounts) and
are left to the OCDS party features.

Flags are 0/1 floats; a tender with too few bids for a flag (fewer than 3 for the regular
pattern, fewer than 2 for identical prices) gets NaN, not 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.procurement.collusion.util import BidMatrix, nan_where

LAW40_REGULAR_PRICE_PATTERN = "law40_regular_price_pattern"
LAW40_IDENTICAL_PRICES = "law40_identical_prices"
LAW44_FEWER_THAN_THREE_BIDDERS = "law44_fewer_than_three_bidders"
ADJACENT_GAP_CV = "adjacent_gap_cv"

LAW_FEATURES = (
    LAW40_REGULAR_PRICE_PATTERN,
    LAW40_IDENTICAL_PRICES,
    LAW44_FEWER_THAN_THREE_BIDDERS,
    ADJACENT_GAP_CV,
)
REGULAR_TOLERANCE = 0.1
"""Steps count as regular when every step is within this share of the mean step."""

DESCRIPTIONS: dict[str, tuple[str, str]] = {
    LAW40_REGULAR_PRICE_PATTERN: (
        "prices differ in a regular pattern (equal steps or equal ratios between the sorted"
        " bids; Implementing Regulations of the Bidding Law, art. 40 (4))",
        "投标报价呈规律性差异（排序后报价等差或等比递增；《招标投标法实施条例》第四十条第四项）",
    ),
    LAW40_IDENTICAL_PRICES: (
        "two or more bids of exactly the same amount (bid documents unusually alike, art. 40 (4))",
        "两家及以上投标报价完全相同（投标文件异常一致，第四十条第四项）",
    ),
    LAW44_FEWER_THAN_THREE_BIDDERS: (
        "fewer than three bidders: the bids may not be opened and the tender must be run again"
        " (art. 44)",
        "投标人少于3个，不得开标，招标人应当重新招标（第四十四条）",
    ),
    ADJACENT_GAP_CV: (
        "coefficient of variation of the gaps between adjacent sorted bids; near 0 means"
        " evenly stepped prices",
        "排序后相邻报价间距的变异系数；接近0说明报价等距递增",
    ),
}


def law_signs(bids: BidMatrix, *, tolerance: float = REGULAR_TOLERANCE) -> pd.DataFrame:
    """One row per tender (``bids.index``), the columns of ``LAW_FEATURES``."""
    n = bids.counts
    prices = bids.prices
    if prices.shape[1] < 2:
        prices = np.pad(prices, ((0, 0), (0, 2 - prices.shape[1])), constant_values=np.nan)
    gaps = np.diff(prices, axis=1)
    log_gaps = np.diff(np.log(prices), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        equal_steps = regular_steps(gaps, tolerance)
        equal_ratios = regular_steps(log_gaps, tolerance)
        step_count = np.sum(np.isfinite(gaps), axis=1)
        gap_mean = np.nansum(gaps, axis=1) / step_count
        gap_std = np.sqrt(np.nansum((gaps - gap_mean[:, None]) ** 2, axis=1) / (step_count - 1))
        gap_cv = gap_std / np.where(gap_mean > 0, gap_mean, np.nan)
    identical = np.nansum(gaps == 0, axis=1) > 0
    return pd.DataFrame(
        {
            LAW40_REGULAR_PRICE_PATTERN: nan_where((equal_steps | equal_ratios) * 1.0, n < 3),
            LAW40_IDENTICAL_PRICES: nan_where(identical * 1.0, n < 2),
            LAW44_FEWER_THAN_THREE_BIDDERS: (n < 3) * 1.0,
            ADJACENT_GAP_CV: nan_where(gap_cv, n < 3),
        },
        index=bids.index,
    )


def regular_steps(steps: np.ndarray, tolerance: float) -> np.ndarray:
    """Rows whose finite steps are all positive and within ``tolerance`` × their mean."""
    finite = np.isfinite(steps)
    mean = np.nansum(steps, axis=1) / finite.sum(axis=1)
    deviation = np.where(finite, np.abs(steps - mean[:, None]), 0.0)
    positive = np.all(np.where(finite, steps > 0, True), axis=1)
    return positive & (mean > 0) & np.all(deviation <= tolerance * mean[:, None], axis=1)
