"""R048 Heterogeneous supplier (cardinal-rs ``src/indicators/r048.rs``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from features.procurement.redflags.util import Process, as_list, get, mul_add, quantile, set_result

if TYPE_CHECKING:
    from features.procurement.redflags.run import CardinalContext

if TYPE_CHECKING:
    from features.procurement.redflags.run import Evaluator


@dataclass
class R048Settings:
    """``[R048]`` (r048.rs ``R048::new``): ``digits`` of the classification's first level
    (default 2); ``threshold``: a fixed upper fence (unset: Q3 + 1.5 IQR);
    ``minimum_contracting_processes`` for a supplier to count (default 20)."""

    digits: int = 2
    threshold: int | None = None
    minimum_contracting_processes: int = 20


def fold(evaluator: Evaluator, release: dict[str, Any], process: Process, digits: int) -> None:
    """Collect the first ``digits`` characters of item classifications per supplier of
    each active award with exactly one supplier."""
    for award in as_list(release.get("awards")) or ():
        items = as_list(get(award, "items"))
        suppliers = as_list(get(award, "suppliers"))
        if get(award, "status") != "active" or items is None or suppliers is None:
            continue
        if len(suppliers) != 1:
            continue
        supplier_id = get(suppliers[0], "id")
        if not isinstance(supplier_id, str):
            continue
        for item in items:
            classification_id = get(get(item, "classification"), "id")
            if isinstance(classification_id, str):
                codes = process.r048.setdefault(supplier_id, set())
                codes.add(classification_id[:digits])


def reduce(classifications: dict[str, tuple[list[int], set[str]]], process: Process) -> None:
    """Add one process to the running totals: per supplier, [processes] and its first-level
    classification codes."""
    for supplier_id, codes in process.r048.items():
        count, all_codes = classifications.setdefault(supplier_id, ([0], set()))
        count[0] += 1  # a supplier is observed in a process at most once
        all_codes.update(codes)


def finalize(
    context: CardinalContext,
    r048: R048Settings,
    classifications: dict[str, tuple[list[int], set[str]]],
) -> None:
    """r048.rs ``R048::finalize``: among suppliers in at least ``minimum_contracting_processes``
    processes, flag a variety (distinct first-level codes) >= Q3 + 1.5 IQR (no guard)."""
    lengths = {
        key: (float(len(codes)), count[0])
        for key, (count, codes) in classifications.items()
        if count[0] >= r048.minimum_contracting_processes
    }
    meta = context.meta.setdefault("R048", {})
    if r048.threshold is None:
        q1 = quantile([length for length, _ in lengths.values()], 0.25)
        q3 = quantile([length for length, _ in lengths.values()], 0.75)
        meta.update({"q1": q1, "q3": q3})
        upper_fence = mul_add(q3 - q1, 1.5, q3)
    else:
        upper_fence = float(r048.threshold)
    meta["upper_fence"] = upper_fence
    for key, (length, count) in lengths.items():
        if length >= upper_fence:
            set_result(context.results, "Tenderer", key, "R048", length)
            context.organisation_values[("R048", "Tenderer", key)] = {
                "variety": length,
                "contracting_processes": count,
                "upper_fence": upper_fence,
                "classifications": sorted(classifications[key][1]),
            }
