"""R030 Late bid won (cardinal-rs ``src/indicators/r030.rs``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from features.procurement.redflags.util import Process, RedFlag, as_list, as_str, get

if TYPE_CHECKING:
    from features.procurement.redflags.run import Evaluator


@dataclass
class R030Settings:
    """``[R030]``: not configurable."""


def fold(evaluator: Evaluator, release: dict[str, Any], process: Process) -> None:
    """Flag a valid bid dated after the deadline whose tenderer supplies an active award."""
    end_date = as_str(get(get(release.get("tender"), "tenderPeriod"), "endDate"))
    awards = as_list(release.get("awards"))
    details = as_list(get(release.get("bids"), "details"))
    if end_date is None or awards is None or details is None:
        return
    supplier_ids: set[str] = set()
    for award in awards:
        suppliers = as_list(get(award, "suppliers"))
        if get(award, "status") == "active" and suppliers is not None:
            supplier_ids.update(
                s["id"] for s in suppliers if isinstance(s, dict) and isinstance(s.get("id"), str)
            )
    late: dict[str, str] = {}
    for bid in details:
        if not isinstance(bid, dict) or bid.get("status") != "valid":
            continue
        bid_date = bid.get("date")
        tenderers = as_list(bid.get("tenderers"))
        # Cardinal compares the date strings.
        if not isinstance(bid_date, str) or tenderers is None or not bid_date > end_date:
            continue
        for tenderer in tenderers:
            tenderer_id = get(tenderer, "id")
            if isinstance(tenderer_id, str) and tenderer_id in supplier_ids:
                late.setdefault(tenderer_id, bid_date)
    if late:
        process.flags.append(
            RedFlag(
                "R030",
                "OCID",
                process.ocid,
                1.0,
                {"tender_period_end_date": end_date, "late_winning_bids": late},
            )
        )
        for tenderer_id, bid_date in late.items():
            process.flags.append(
                RedFlag(
                    "R030",
                    "Tenderer",
                    tenderer_id,
                    1.0,
                    {
                        "ocid": process.ocid,
                        "bid_date": bid_date,
                        "tender_period_end_date": end_date,
                    },
                )
            )
