"""R024 Price close to winning bid (cardinal-rs ``src/indicators/r024.rs``).

The winner/second-lowest ratio it shares with R058 is ``util.second_lowest_bid_ratio``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from features.procurement.redflags.util import mul_add, quantile, set_result

if TYPE_CHECKING:
    from features.procurement.redflags.run import CardinalContext


@dataclass
class R024Settings:
    """``[R024]`` (r024.rs): a fixed lower fence; unset: Q1 - 1.5 IQR of the ratios."""

    threshold: float | None = None


def fence(data: list[float], threshold: float | None) -> tuple[float, float, dict]:
    """r024.rs ``R024::finalize``: (lower fence, q1, meta)."""
    if threshold is not None:
        return threshold, 1.0, {}  # dummy q1 to pass the guard
    q1 = quantile(data, 0.25)
    q3 = quantile(data, 0.75)
    return mul_add(q3 - q1, -1.5, q1), q1, {"q1": q1, "q3": q3}


def fires(ratio: float, q1: float, lower_fence: float) -> bool:
    """r024.rs ``R024::finalize``'s test: a ratio at or below the lower fence, only when Q1
    and the fence are positive (NaN never fires)."""
    return q1 > 0.0 and lower_fence > 0.0 and ratio <= lower_fence


def finalize(context: CardinalContext, r024: R024Settings) -> None:
    """r024.rs ``R024::finalize``: flag ratios <= Q1 - 1.5 IQR (skipped unless Q1 > 0 and the
    fence > 0); the process gets the ratio, the winner and second-lowest bidder 0.0."""
    ratios = [entry.ratio for entry in context.second_lowest.values()]
    lower_fence, q1, meta = fence(ratios, r024.threshold)
    context.meta.setdefault("R024", {}).update({**meta, "lower_fence": lower_fence})
    context.r024_lower_fence, context.r024_q1 = lower_fence, q1
    for ocid, entry in context.second_lowest.items():
        if fires(entry.ratio, q1, lower_fence):
            set_result(context.results, "OCID", ocid, "R024", entry.ratio)
            set_result(context.results, "Tenderer", entry.winner, "R024", 0.0)
            set_result(context.results, "Tenderer", entry.lowest_non_winner, "R024", 0.0)
