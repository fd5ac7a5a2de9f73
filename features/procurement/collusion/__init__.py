"""Bid-rigging screens meant to mean the same in every market (issue 12).

One module per family, all pure numpy/pandas over a bid-level frame (one row per bid):

* ``features.procurement.screens.bid_screens``: the classic screens, today's detector's
  features (the named ``BASELINE`` set);
* ``normalised``: the bid vector over its lowest bid (currency- and level-free);
* ``coalition``: screens over every subgroup of 3 or 4 bids (partial cartels);
* ``law``: the signs of arts. 40 and 44 of the Implementing Regulations of the Bidding Law;
* ``market``: any of the above as a percentile within its market and bid-count class.

``collusion_screens`` computes the per-tender families at once; ``FEATURE_SETS`` names the
column sets the detector and its evaluation compare.
"""

from __future__ import annotations

import pandas as pd

from features.procurement.collusion.coalition import coalition_columns, coalition_screens
from features.procurement.collusion.law import (
    LAW40_IDENTICAL_PRICES,
    LAW40_REGULAR_PRICE_PATTERN,
    LAW44_FEWER_THAN_THREE_BIDDERS,
    LAW_FEATURES,
    law_signs,
)
from features.procurement.collusion.market import (
    RANK_SUFFIX,
    rank_against_reference,
    rank_within_market,
)
from features.procurement.collusion.normalised import (
    NORMALISED_SCREENS,
    normalised_screens,
    sorted_relative_bids,
)
from features.procurement.collusion.util import CollusionInputError, bid_matrix
from features.procurement.screens import (
    ALTERNATIVE_DISTANCE,
    BID_COUNT,
    BID_CV,
    BID_KURTOSIS,
    BID_SKEWNESS,
    BID_SPREAD,
    KS_UNIFORM_DISTANCE,
    NORMALISED_DISTANCE,
    RELATIVE_DISTANCE,
    TWO_LOWEST_PCT_DIFF,
    bid_screens,
)

BASELINE: tuple[str, ...] = (
    BID_COUNT,
    BID_CV,
    BID_SPREAD,
    TWO_LOWEST_PCT_DIFF,
    BID_SKEWNESS,
    BID_KURTOSIS,
    RELATIVE_DISTANCE,
    NORMALISED_DISTANCE,
    ALTERNATIVE_DISTANCE,
    KS_UNIFORM_DISTANCE,
)
"""Today's detector's screens (``training.collusion.cv``) without the estimate ratios, which
only some markets carry."""

INVARIANT: tuple[str, ...] = (
    *BASELINE,
    *NORMALISED_SCREENS,
    *coalition_columns(),
    *LAW_FEATURES,
)
_UNRANKED = (
    BID_COUNT,
    LAW40_REGULAR_PRICE_PATTERN,
    LAW40_IDENTICAL_PRICES,
    LAW44_FEWER_THAN_THREE_BIDDERS,
)
"""The count and the 0/1 law flags mean the same everywhere already; ranks of them are noise."""
RANKED: tuple[str, ...] = tuple(
    f"{column}{RANK_SUFFIX}" for column in INVARIANT if column not in _UNRANKED
)
SERVED: tuple[str, ...] = tuple(c for c in BASELINE if c != BID_COUNT)
"""The screens the point-in-time feature computes per tender in plain Python
(``features.procurement.screens.tender_screens``) and keeps for the group's earlier tenders
(``collusion.point_in_time``); a detector the service can run reads only their ranks."""
SERVED_RANKED: tuple[str, ...] = tuple(f"{column}{RANK_SUFFIX}" for column in SERVED)
SET_WIDTH = 8
SET_VECTOR: tuple[str, ...] = tuple(f"relative_bid_{k}" for k in range(2, SET_WIDTH + 2))

FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "baseline": BASELINE,
    "invariant": INVARIANT,
    "invariant_ranked": (*INVARIANT, *RANKED),
    "ranked": RANKED,
    "ranked_with_count": (BID_COUNT, *RANKED),
    "set": (BID_COUNT, *SET_VECTOR, *RANKED),
    "served_ranked": SERVED_RANKED,
    "cv": (f"{BID_CV}{RANK_SUFFIX}",),
}
"""Column sets the evaluation compares; every column is defined for any market."""


def collusion_screens(frame: pd.DataFrame, *, tender_col: str, price_col: str) -> pd.DataFrame:
    """Per tender (index ``tender_col``, sorted): the classic screens, the normalised,
    coalition and law families, and the sorted relative bid vector (``SET_VECTOR``)."""
    bids = bid_matrix(frame, tender_col=tender_col, price_col=price_col)
    classic = bid_screens(frame, tender_col=tender_col, price_col=price_col)
    return pd.concat(
        [
            classic,
            normalised_screens(bids),
            coalition_screens(bids),
            law_signs(bids),
            sorted_relative_bids(bids, width=SET_WIDTH),
        ],
        axis=1,
    )


def with_market_ranks(screens: pd.DataFrame, *, market: pd.Series) -> pd.DataFrame:
    """``screens`` plus every ``INVARIANT`` screen (bar the count and law flags) ranked within
    ``market`` (aligned with ``screens``) and bid-count class: the ``RANKED`` columns."""
    columns = [c for c in INVARIANT if c not in _UNRANKED]
    ranks = rank_within_market(screens[columns], market=market, bid_count=screens[BID_COUNT])
    return pd.concat([screens, ranks], axis=1)


def with_reference_ranks(screens: pd.DataFrame, *, reference: pd.DataFrame) -> pd.DataFrame:
    """``screens`` plus the ``RANKED`` columns, each screen ranked among the ``reference``
    tenders' screens (same columns; e.g. the market's earlier tenders) instead of within
    ``screens`` itself."""
    columns = [c for c in INVARIANT if c not in _UNRANKED]
    ranks = rank_against_reference(
        screens[columns],
        bid_count=screens[BID_COUNT],
        reference=reference[columns],
        reference_bid_count=reference[BID_COUNT],
    )
    return pd.concat([screens, ranks], axis=1)


__all__ = [
    "BASELINE",
    "FEATURE_SETS",
    "INVARIANT",
    "RANKED",
    "SERVED",
    "SERVED_RANKED",
    "CollusionInputError",
    "collusion_screens",
    "with_market_ranks",
    "with_reference_ranks",
]
