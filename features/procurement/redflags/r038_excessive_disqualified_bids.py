"""R038 Excessive disqualified bids (cardinal-rs ``src/indicators/r038.rs``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from features.procurement.redflags.util import (
    Process,
    as_list,
    divide,
    get,
    get_submitted_bids,
    mul_add,
    quantile,
    set_result,
)

if TYPE_CHECKING:
    from features.procurement.redflags.run import CardinalContext

if TYPE_CHECKING:
    from features.procurement.redflags.run import Evaluator


@dataclass
class R038Settings:
    """``[R038]`` (r038.rs ``R038::new``): ``threshold``: a fixed upper fence (unset:
    Q3 + 1.5 IQR); ``minimum_submitted_bids`` (tenderers, default 2);
    ``minimum_contracting_processes`` (buyers and procuring entities, default 2)."""

    threshold: float | None = None
    minimum_submitted_bids: int = 2
    minimum_contracting_processes: int = 2


def fold(evaluator: Evaluator, release: dict[str, Any], process: Process) -> None:
    """Count submitted and disqualified bids per tenderer, buyer and procuring entity."""
    submitted = get_submitted_bids(release)
    if not submitted:
        return
    disqualified = 0
    for bid in submitted:
        increment = 1 if bid.get("status") == "disqualified" else 0
        disqualified += increment
        for tenderer in as_list(bid.get("tenderers")) or ():
            tenderer_id = get(tenderer, "id")
            if isinstance(tenderer_id, str):
                process.r038_tenderers.append((tenderer_id, increment))
    process.r038_disqualified = disqualified
    process.r038_submitted = len(submitted)
    buyer_id = get(release.get("buyer"), "id")
    if isinstance(buyer_id, str):
        process.r038_buyer = buyer_id
    entity_id = get(get(release.get("tender"), "procuringEntity"), "id")
    if isinstance(entity_id, str):
        process.r038_procuring_entity = entity_id


def reduce(fractions: dict[str, dict[str, list[int]]], process: Process) -> None:
    """Add one process to the running totals: per group and organisation, [disqualified,
    submitted] bids (Cardinal sums these ``Fraction``s as it folds)."""
    for tenderer_id, increment in process.r038_tenderers:
        fraction = fractions["Tenderer"].setdefault(tenderer_id, [0, 0])
        fraction[0] += increment
        fraction[1] += 1
    for group, org_id in (
        ("Buyer", process.r038_buyer),
        ("ProcuringEntity", process.r038_procuring_entity),
    ):
        if org_id is not None:
            fraction = fractions[group].setdefault(org_id, [0, 0])
            fraction[0] += process.r038_disqualified
            fraction[1] += process.r038_submitted


def finalize(
    context: CardinalContext, r038: R038Settings, fractions: dict[str, dict[str, list[int]]]
) -> None:
    """r038.rs ``R038::finalize`` (macro ``flag!``): per group, organisations whose count of
    submitted bids (the fraction's denominator) reaches the minimum; flag ratios >= Q3 + 1.5
    IQR (skipped unless the fence > 0)."""
    minimums = {
        "Buyer": r038.minimum_contracting_processes,
        "ProcuringEntity": r038.minimum_contracting_processes,
        "Tenderer": r038.minimum_submitted_bids,
    }
    for group in ("Buyer", "ProcuringEntity", "Tenderer"):
        eligible = {key: (n, d) for key, (n, d) in fractions[group].items() if d >= minimums[group]}
        if not eligible:
            continue
        ratios = {key: divide(float(n), float(d)) for key, (n, d) in eligible.items()}
        meta = context.meta.setdefault("R038", {})
        if r038.threshold is None:
            q1 = quantile(list(ratios.values()), 0.25)
            q3 = quantile(list(ratios.values()), 0.75)
            meta[f"{group}_q1"] = q1
            meta[f"{group}_q3"] = q3
            upper_fence = mul_add(q3 - q1, 1.5, q3)
        else:
            upper_fence = r038.threshold
        meta[f"{group}_upper_fence"] = upper_fence
        if upper_fence > 0.0:
            for key, ratio in ratios.items():
                if ratio >= upper_fence:
                    set_result(context.results, group, key, "R038", ratio)
                    context.organisation_values[("R038", group, key)] = {
                        "disqualified_ratio": ratio,
                        "disqualified_bids": eligible[key][0],
                        "submitted_bids": eligible[key][1],
                        "upper_fence": upper_fence,
                    }
