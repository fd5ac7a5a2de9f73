"""The collusion score of one process, point in time: the registered ``collusion`` detector
applied to its bids, with every screen ranked against the group's own earlier tenders.

``collusion_score`` = the detector's probability that the tender's bid pattern resembles the
proven cartels it was trained on (``models.collusion``; the champion is whichever candidate
transferred best to markets it never saw, ``training.collusion.champion``). The detector
reads screens ranked within a market (``collusion.market``); here the market is the group's
tenders awarded in the ``REFERENCE_DAYS`` before the decision date with at least ``MIN_BIDS``
priced bids (the history's ``bid_screens`` index, dated at award, the scored process
excluded), of the same bid-count class (``market.BID_COUNT_CLASSES``), or all of them when
the class has fewer than ``MIN_REFERENCE``. Ranking against *earlier* tenders only lets one
tender be scored alone, so the batch and online paths agree; the percentile is
``market.rank_against_reference``'s. Every process with ``MIN_BIDS`` bids or more gets a score
(a screen with no earlier tender to rank against counts as the median); a process with
several lots gets the highest score of its lots. No label of the group enters the score: the
planted rings of the demo world are never trained on.

The detector reads only ``SERVED`` screens (``features.procurement.screens.tender_screens``,
plain Python per tender); which version scores is the caller's (``CollusionScorer``): the
risk model saves the version its training features used and the service loads that one.

Without a detector (a risk model trained before one was registered) the score is the CV rule
as before: the share of the reference tenders whose bids vary *more* than this tender's (ties
count half), missing below ``MIN_REFERENCE`` reference tenders.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from features.procurement.collusion import SERVED
from features.procurement.collusion.law import (
    LAW40_REGULAR_PRICE_PATTERN,
    LAW44_FEWER_THAN_THREE_BIDDERS,
    REGULAR_TOLERANCE,
    regular_steps,
)
from features.procurement.collusion.market import RANK_SUFFIX, bid_count_class
from features.procurement.screens import BID_COUNT, tender_screens

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
    """The ``bid_screens`` index keys a tender of ``bid_count`` bids is filed under: its size
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


class CollusionScorer(Protocol):
    """A fitted collusion detector (``models.collusion.detector.CollusionDetector``): one
    probability per row of a frame of screens and their ``_market_rank`` percentiles."""

    def predict_proba(self, screens: pd.DataFrame) -> np.ndarray: ...


def served_screens(prices: Sequence[float]) -> tuple[float, ...]:
    """The ``SERVED`` screens of one tender's bids, in that order (NaN where undefined)."""
    screens = tender_screens(prices)
    return tuple(screens[name] for name in SERVED)


def percentiles_among(reference: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per column ``j``, the percentile of ``values[j]`` among the finite ``reference[:, j]``
    (shape (tenders, columns)) as ``market.rank_against_reference`` gives it:
    ``(below + 1 + ties / 2) / (n + 1)``; NaN for a NaN value or no finite reference."""
    finite = ~np.isnan(reference)
    below = np.sum(finite & (reference < values), axis=0)
    ties = np.sum(finite & (reference == values), axis=0)
    known = finite.sum(axis=0)
    percentile = (below + 1 + ties / 2) / (known + 1)
    return np.where(np.isnan(values) | (known == 0), np.nan, percentile)


def detector_score(
    scorer: CollusionScorer, prices: Sequence[float], reference: Mapping[str, np.ndarray]
) -> float:
    """``scorer``'s probability for one tender's bids, its ``SERVED`` screens ranked among
    ``reference`` (``SERVED`` column → one value per earlier tender; empty arrays when there
    is none)."""
    values = np.array(served_screens(prices))
    matrix = np.column_stack([np.asarray(reference[name], dtype=float) for name in SERVED])
    ranks = percentiles_among(matrix, values)
    row: dict[str, float] = {BID_COUNT: float(len(prices))}
    row.update(zip(SERVED, values.tolist(), strict=True))
    row.update(
        (f"{name}{RANK_SUFFIX}", rank) for name, rank in zip(SERVED, ranks.tolist(), strict=True)
    )
    return float(scorer.predict_proba(pd.DataFrame([row]))[0])


__all__ = [
    "COLLUSION_SCORE",
    "LAW40_REGULAR_PRICE_PATTERN",
    "LAW44_FEWER_THAN_THREE_BIDDERS",
    "CollusionScorer",
    "detector_score",
    "percentiles_among",
    "reference_keys",
    "regular_price_pattern",
    "sample_cv",
    "served_screens",
    "share_varying_more",
]
