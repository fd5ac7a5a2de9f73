"""Screens ranked within their market and tender-size class.

A screen's level differs between markets for reasons that have nothing to do with collusion
(Swiss road works are priced tighter than Brazilian buildings; more bids mean a wider
spread). Huber, Imhof and Ishii transfer a Swiss-trained model to Japan only after putting
the screens on a common footing; here each screen becomes its percentile within the tenders
of the same market and the same bid-count class (``BID_COUNT_CLASSES``): 0 to 1, the share of
those tenders with a value at most this one (ties share their mean rank).

Leakage: the percentile uses the other tenders' screens of the same market, never labels, so
scoring a market nobody labelled is allowed to rank within it. A class with fewer than
``min_group`` tenders is ranked within its whole market instead. NaN stays NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BID_COUNT_CLASSES: tuple[tuple[int, int], ...] = ((1, 2), (3, 3), (4, 5), (6, 8), (9, 10**9))
"""Inclusive bid-count ranges; screen distributions change mechanically with the count."""
MIN_GROUP = 30
RANK_SUFFIX = "_market_rank"


def bid_count_class(counts: np.ndarray) -> np.ndarray:
    """Index into ``BID_COUNT_CLASSES`` of each count (counts ≥ 1)."""
    upper = np.array([high for _, high in BID_COUNT_CLASSES])
    return np.searchsorted(upper, np.asarray(counts), side="left")


def rank_within_market(
    screens: pd.DataFrame,
    *,
    market: pd.Series,
    bid_count: pd.Series,
    min_group: int = MIN_GROUP,
) -> pd.DataFrame:
    """Percentile of each column of ``screens`` within (market, bid-count class); columns
    renamed ``<screen>_market_rank``. ``market`` and ``bid_count`` align with ``screens``."""
    size_class = pd.Series(bid_count_class(bid_count.to_numpy()), index=screens.index)
    class_size = size_class.groupby([market, size_class]).transform("size")
    group = market.astype(str) + "|" + size_class.astype(str).where(class_size >= min_group, "all")
    ranked = screens.groupby(group).rank(pct=True, method="average")
    return ranked.add_suffix(RANK_SUFFIX)


def rank_against_reference(
    screens: pd.DataFrame,
    *,
    bid_count: pd.Series,
    reference: pd.DataFrame,
    reference_bid_count: pd.Series,
    min_group: int = MIN_GROUP,
) -> pd.DataFrame:
    """Percentile of each column of ``screens`` among the ``reference`` tenders of its
    bid-count class (the whole reference when the class has fewer than ``min_group``): the
    percentile ``rank_within_market`` would give a tender added alone to the reference, so one
    tender can be scored at a time against its market's earlier tenders. Columns renamed
    ``<screen>_market_rank``; NaN stays NaN, as does everything when the reference is empty."""
    size_class = bid_count_class(bid_count.to_numpy())
    reference_class = bid_count_class(reference_bid_count.to_numpy())
    out = pd.DataFrame(np.nan, index=screens.index, columns=screens.columns)
    for size in np.unique(size_class):
        rows = size_class == size
        in_class = reference_class == size
        pool = reference[in_class] if in_class.sum() >= min_group else reference
        for column in screens.columns:
            known = np.sort(pool[column].dropna().to_numpy(dtype=float))
            values = screens.loc[rows, column].to_numpy(dtype=float)
            less = np.searchsorted(known, values, "left")
            ties = np.searchsorted(known, values, "right") - less
            percentile = (less + 1 + ties / 2) / (len(known) + 1)
            out.loc[rows, column] = np.where(np.isnan(values), np.nan, percentile)
    return out.add_suffix(RANK_SUFFIX)
