"""R058 Heavily discounted bid (cardinal-rs ``src/indicators/r058.rs``).

The winner/second-lowest ratio it shares with R024 is ``util.second_lowest_bid_ratio``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from features.procurement.redflags.util import mul_add, quantile, set_result

if TYPE_CHECKING:
    from features.procurement.redflags.run import CardinalContext


@dataclass
class R058Settings:
    """``[R058]`` (r058.rs): a fixed upper fence; unset: Q3 + 1.5 IQR of the ratios."""

    threshold: float | None = None


def fence(data: list[float], threshold: float | None) -> tuple[float, dict]:
    """r058.rs ``R058::finalize``: (upper fence, meta)."""
    if threshold is not None:
        return threshold, {}
    q1 = quantile(data, 0.25)
    q3 = quantile(data, 0.75)
    return mul_add(q3 - q1, 1.5, q3), {"q1": q1, "q3": q3}


def fires(ratio: float, upper_fence: float) -> bool:
    """r058.rs ``R058::finalize``'s test: a ratio at or above the upper fence, only when the
    fence is positive (NaN never fires)."""
    return upper_fence > 0.0 and ratio >= upper_fence


def finalize(context: CardinalContext, r058: R058Settings) -> None:
    """r058.rs ``R058::finalize``: flag ratios >= Q3 + 1.5 IQR (skipped unless the fence > 0);
    the process gets the ratio, the winner 0.0."""
    ratios = [entry.ratio for entry in context.second_lowest.values()]
    upper_fence, meta = fence(ratios, r058.threshold)
    context.meta.setdefault("R058", {}).update({**meta, "upper_fence": upper_fence})
    context.r058_upper_fence = upper_fence
    for ocid, entry in context.second_lowest.items():
        if fires(entry.ratio, upper_fence):
            set_result(context.results, "OCID", ocid, "R058", entry.ratio)
            set_result(context.results, "Tenderer", entry.winner, "R058", 0.0)
