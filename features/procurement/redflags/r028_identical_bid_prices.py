"""R028 Identical bid prices (cardinal-rs ``src/indicators/r028.rs``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from features.procurement.redflags.flag import RedFlag
from features.procurement.redflags.util import (
    Process,
    as_dict_or_none,
    as_list,
    get_submitted_bids,
    is_number,
)

if TYPE_CHECKING:
    from features.procurement.redflags.run import Evaluator


@dataclass
class R028Settings:
    """``[R028]``: not configurable."""


def fold(evaluator: Evaluator, release: dict[str, Any], process: Process) -> None:
    """Flag if submitted bids of different tenderer sets have the same (amount, currency)."""
    if not evaluator.price_comparison(release):
        return
    prices: dict[tuple[float, str], frozenset[str]] = {}
    flagged: set[str] = set()
    matches: list[dict[str, Any]] = []
    for bid in get_submitted_bids(release):
        tenderers = as_list(bid.get("tenderers"))
        value = as_dict_or_none(bid.get("value"))
        if tenderers is None or value is None:
            continue
        amount = value.get("amount")
        currency = value.get("currency")
        if not is_number(amount) or not isinstance(currency, str):
            continue
        ids = frozenset(
            tenderer["id"]
            for tenderer in tenderers
            if isinstance(tenderer, dict) and isinstance(tenderer.get("id"), str)
        )
        if not ids:
            continue
        price = (float(amount), currency)
        other = prices.get(price)
        # A tenderer is allowed to submit additional bids with the same price.
        if other is not None and ids != other:
            flagged.update(ids, other)
            matches.append(
                {"amount": price[0], "currency": currency, "tenderers": sorted(ids | other)}
            )
        prices[price] = ids
    if flagged:
        process.flags.append(
            RedFlag("R028", "OCID", process.ocid, 1.0, {"identical_prices": matches})
        )
        for tenderer_id in sorted(flagged):
            process.flags.append(
                RedFlag(
                    "R028",
                    "Tenderer",
                    tenderer_id,
                    1.0,
                    {"ocid": process.ocid, "identical_prices": matches},
                )
            )
