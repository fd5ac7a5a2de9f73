"""R025 Excessive unsuccessful bids (cardinal-rs ``src/indicators/r025.rs``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from features.procurement.redflags.util import (
    Process,
    as_list,
    divide,
    get,
    get_complete_awards_and_bids_if_all_awards_final,
    mul_add,
    quantile,
    set_result,
)

if TYPE_CHECKING:
    from features.procurement.redflags.run import CardinalContext

if TYPE_CHECKING:
    from features.procurement.redflags.run import Evaluator


@dataclass
class R025Settings:
    """``[R025]`` (r025.rs ``R025::new``): ``percentile`` of valid-bid counts (default 75)
    for a top tenderer; ``threshold``: a fixed lower fence (unset: Q1 - 1.5 IQR)."""

    percentile: int = 75
    threshold: float | None = None


def fold(evaluator: Evaluator, release: dict[str, Any], process: Process) -> None:
    """Count, per valid tenderer (once per process), a bid and whether it won."""
    found = get_complete_awards_and_bids_if_all_awards_final(release)
    if found is None:
        return
    complete_awards, details = found
    if len(complete_awards) != 1:
        return
    suppliers = as_list(complete_awards[0].get("suppliers"))
    if suppliers is None or len(suppliers) != 1:
        return
    supplier_id = get(suppliers[0], "id")
    if not isinstance(supplier_id, str):
        return
    for bid in details:
        if not isinstance(bid, dict) or bid.get("status") != "valid":
            continue
        tenderers = as_list(bid.get("tenderers"))
        if tenderers is None or len(tenderers) != 1:
            continue
        tenderer_id = get(tenderers[0], "id")
        if isinstance(tenderer_id, str):
            process.r025[tenderer_id] = supplier_id == tenderer_id


def reduce(fractions: dict[str, list[int]], process: Process) -> None:
    """Add one process to the running totals: per tenderer, [processes won, processes with a
    valid bid] (Cardinal sums these ``Fraction``s as it folds)."""
    for tenderer_id, won in process.r025.items():
        fraction = fractions.setdefault(tenderer_id, [0, 0])
        fraction[0] += int(won)
        fraction[1] += 1


def finalize(context: CardinalContext, r025: R025Settings, fractions: dict[str, list[int]]) -> None:
    """r025.rs ``R025::finalize``: a tenderer whose number of valid bids is >= the
    ``percentile`` of those numbers and whose win ratio is <= Q1 - 1.5 IQR of the ratios
    (skipped unless Q1 > 0 and the fence > 0)."""
    upper_fence = quantile([float(d) for _, d in fractions.values()], r025.percentile / 100.0)
    ratios = {key: divide(float(n), float(d)) for key, (n, d) in fractions.items()}
    meta: dict[str, float] = {}
    if r025.threshold is None:
        q1 = quantile(list(ratios.values()), 0.25)
        q3 = quantile(list(ratios.values()), 0.75)
        meta = {"q1": q1, "q3": q3}
        lower_fence = mul_add(q3 - q1, -1.5, q1)
    else:
        lower_fence, q1 = r025.threshold, 1.0
    context.meta.setdefault("R025", {}).update(
        {**meta, "upper_fence": upper_fence, "lower_fence": lower_fence}
    )
    if q1 > 0.0 and lower_fence > 0.0:
        for key, (won, bids) in fractions.items():
            ratio = ratios[key]
            if bids >= upper_fence and ratio <= lower_fence:
                set_result(context.results, "Tenderer", key, "R025", ratio)
                context.organisation_values[("R025", "Tenderer", key)] = {
                    "win_ratio": ratio,
                    "winning_bids": won,
                    "valid_bids": bids,
                    "valid_bids_upper_fence": upper_fence,
                    "lower_fence": lower_fence,
                }
