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
