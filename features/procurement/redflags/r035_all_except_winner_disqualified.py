"""R035 All except winning bid disqualified (cardinal-rs ``src/indicators/r035.rs``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from features.procurement.redflags.flag import RedFlag
from features.procurement.redflags.util import (
    Process,
    as_list,
    get,
    get_complete_awards_and_bids_if_all_awards_final,
)

if TYPE_CHECKING:
    from features.procurement.redflags.run import Evaluator


@dataclass
class R035Settings:
    """``[R035]`` (r035.rs ``R035::new``): minimum number of other tenderers with
    disqualified bids, default 1 (values below 1 count as 1)."""

    threshold: int = 1


def fold(evaluator: Evaluator, release: dict[str, Any], process: Process) -> None:
    """Flag if one tenderer's valid bids won all active awards and at least ``threshold``
    other tenderers had disqualified bids."""
    supplier_ids: set[str] = set()
    valid_ids: set[str] = set()
    disqualified_ids: set[str] = set()
    found = get_complete_awards_and_bids_if_all_awards_final(release)
    if found is not None:
        complete_awards, details = found
        for award in complete_awards:
            for supplier in as_list(award.get("suppliers")) or ():
                supplier_id = get(supplier, "id")
                if isinstance(supplier_id, str):
                    supplier_ids.add(supplier_id)
        for bid in details:
            status = get(bid, "status")
            tenderers = as_list(get(bid, "tenderers"))
            if not isinstance(status, str) or tenderers is None:
                continue
            if status == "valid":
                target = valid_ids
            elif status == "disqualified":
                target = disqualified_ids
            else:  # invited, pending, withdrawn
                continue
            for tenderer in tenderers:
                tenderer_id = get(tenderer, "id")
                if isinstance(tenderer_id, str):
                    target.add(tenderer_id)
    if len(valid_ids) != 1 or valid_ids != supplier_ids:
        return
    difference = len(disqualified_ids - valid_ids)
    if difference >= evaluator.r035_threshold:
        (winner,) = valid_ids
        others = sorted(disqualified_ids - valid_ids)
        process.flags.append(
            RedFlag(
                "R035",
                "OCID",
                process.ocid,
                float(difference),
                {"winner": winner, "disqualified_tenderers": others},
            )
        )
        process.flags.append(
            RedFlag(
                "R035",
                "Tenderer",
                winner,
                0.0,
                {"ocid": process.ocid, "disqualified_tenderers": others},
            )
        )
