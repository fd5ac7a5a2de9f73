"""The collusion score of one process, point in time: its bids' coefficient of variation ranked
against the group's own earlier tenders of the same size class.

Which score is served. Phase 1 (``bench/RESULTS.md``, "Bid rigging across markets") found
that no learned detector beats the coefficient of variation alone on markets it did not see:
mean held-out ROC-AUC 0.706 for "lower CV = more suspicious" against 0.655 for the
sign-consistent logistic (the registered ``collusion`` model), and on the demo world, the
market closest to the group's, 0.693 against 0.677. The logistic's screens and their weights
change with the markets it is fitted on; the CV rule has no learned parameter that could
carry another country's habits. So the served score is the CV rule, ranked within the
group's own market as phase 1 ranked every screen (``features.procurement.collusion.market``),
but against *earlier* tenders only, so that one tender can be scored alone and the batch and
online paths agree.

``collusion_score`` = share of the reference tenders whose bids vary *more* than this
tender's (ties count half): 0.95 means only 5 % of the group's comparable earlier tenders had
bids as close together. The reference: the tenders with at least ``MIN_BIDS`` priced bids
awarded in the ``REFERENCE_DAYS`` before the decision date (the history's ``bid_cvs`` index,
dated at award, the scored process excluded), of the same bid-count class
(``market.BID_COUNT_CLASSES``); fewer than ``MIN_REFERENCE`` such tenders and the whole
window is the reference; fewer than that in the whole window and the score is missing. A
process with several lots gets the highest score of its lots. No label enters the score: the
planted rings of the demo world are never trained on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from features.procurement.collusion.law import (
    LAW40_REGULAR_PRICE_PATTERN,
    LAW44_FEWER_THAN_THREE_BIDDERS,
    REGULAR_TOLERANCE,
    regular_steps,
)
from features.procurement.collusion.market import bid_count_class

COLLUSION_SCORE = "collusion_score"

MIN_BIDS = 3
"""Screens of the bid vector need three bids (two give a CV, but no pattern to compare)."""
REFERENCE_DAYS = 365
MIN_REFERENCE = 30
ALL_SIZES = -1
"""Reference key of every size class together (the fallback of a thin class)."""


def sample_cv(prices: Sequence[float]) -> float:
    """Sample standard deviation / mean of ``prices`` (two or more positive amounts); the same
    value as ``screens.tender_screens``'s ``bid_cv``."""
    n = len(prices)
    mean = math.fsum(prices) / n
    return math.sqrt(math.fsum((p - mean) ** 2 for p in prices) / (n - 1)) / mean


def reference_keys(bid_count: int) -> tuple[int, int]:
    """The ``bid_cvs`` index keys a tender of ``bid_count`` bids is filed under: its size
    class and ``ALL_SIZES``."""
    return int(bid_count_class(np.array([bid_count]))[0]), ALL_SIZES


def share_varying_more(reference: np.ndarray, cv: float) -> float:
    """Share of ``reference`` CVs above ``cv``, ties counting half (0..1, higher = bids closer
    together than usual)."""
    above = np.count_nonzero(reference > cv)
    ties = np.count_nonzero(reference == cv)
    return (above + 0.5 * ties) / len(reference)


def regular_price_pattern(prices: Sequence[float], tolerance: float = REGULAR_TOLERANCE) -> float:
    """1.0 when the sorted ``prices`` step up by the same amount or the same ratio (art. 40
    (4), as ``law.law_signs``), 0.0 otherwise, NaN below ``MIN_BIDS`` bids."""
    if len(prices) < MIN_BIDS:
        return math.nan
    bids = np.sort(np.asarray(prices, dtype=float))[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        regular = regular_steps(np.diff(bids, axis=1), tolerance) | regular_steps(
            np.diff(np.log(bids), axis=1), tolerance
        )
    return float(regular[0])


__all__ = [
    "COLLUSION_SCORE",
    "LAW40_REGULAR_PRICE_PATTERN",
    "LAW44_FEWER_THAN_THREE_BIDDERS",
    "reference_keys",
    "regular_price_pattern",
    "sample_cv",
    "share_varying_more",
]
