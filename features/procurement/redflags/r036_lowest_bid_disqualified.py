"""R036 Lowest bid disqualified (cardinal-rs ``src/indicators/r036.rs``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from features.procurement.redflags.flag import RedFlag
from features.procurement.redflags.util import (
    Process,
    as_dict_or_none,
    as_list,
    get,
    get_submitted_bids,
    is_number,
)

if TYPE_CHECKING:
    from features.procurement.redflags.run import Evaluator


@dataclass
class R036Settings:
    """``[R036]``: not configurable."""


def fold(evaluator: Evaluator, release: dict[str, Any], process: Process) -> None:
    """Flag if, with an active award, the lowest submitted bid (main currency) is
    disqualified and some valid bid has an amount."""
    if not evaluator.price_comparison(release):
        return
    awards = as_list(release.get("awards"))
    if awards is None or not any(get(a, "status") == "active" for a in awards):
        return
    lowest: float | None = None
    lowest_disqualified = False
    has_valid = False
    lowest_valid: float | None = None
    currency_seen = ""
    for bid in get_submitted_bids(release):
        value = as_dict_or_none(bid.get("value"))
        amount = get(value, "amount")
        currency = get(value, "currency")
        if not is_number(amount) or not isinstance(currency, str):
            continue
        if not evaluator.currency.accepts(currency):
            continue
        currency_seen = currency
        amount = float(amount)
        status = bid["status"]
        if lowest is None or amount < lowest:
            lowest = amount
            lowest_disqualified = status == "disqualified"
        if status == "valid":
            has_valid = True
            if lowest_valid is None or amount < lowest_valid:
                lowest_valid = amount
    if has_valid and lowest_disqualified:
        process.flags.append(
            RedFlag(
                "R036",
                "OCID",
                process.ocid,
                1.0,
                {
                    "lowest_disqualified_amount": lowest,
                    "lowest_valid_amount": lowest_valid,
                    "currency": currency_seen,
                },
            )
        )
