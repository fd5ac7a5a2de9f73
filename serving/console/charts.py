"""Charts drawn on the server as SVG (no script, no style attribute: classes only).

``price_chart`` places a category's past unit prices (dots, by date) and the tender's own
unit price (a horizontal line) on one plot, with the median of the history as a dashed line,
so a price far above its category's past shows at a glance.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime

WIDTH = 640
HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 32


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class PriceChart:
    """Coordinates in the SVG's user units (``WIDTH`` x ``HEIGHT``), y growing downwards."""

    width: int
    height: int
    points: list[ChartPoint]
    current_y: float | None
    median_y: float
    y_ticks: list[tuple[float, str]]
    x_labels: list[tuple[float, str]]
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int


def _price_text(value: float) -> str:
    return f"{value:,.2f}"


def price_chart(history: list[tuple[datetime, float]], current: float | None) -> PriceChart | None:
    """The chart of ``history`` ((date, unit price), oldest first) against ``current``;
    None without history."""
    if not history:
        return None
    prices = [price for _, price in history]
    low = min([*prices, *([current] if current is not None else [])])
    high = max([*prices, *([current] if current is not None else [])])
    if high == low:
        high, low = high * 1.05 + 1, max(0.0, low * 0.95 - 1)
    first = history[0][0]
    span = max((history[-1][0] - first).total_seconds(), 1.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y_of(price: float) -> float:
        return round(TOP + plot_h * (1 - (price - low) / (high - low)), 1)

    def x_of(moment: datetime) -> float:
        return round(LEFT + plot_w * (moment - first).total_seconds() / span, 1)

    points = [
        ChartPoint(x_of(moment), y_of(price), f"{moment:%Y-%m-%d} {_price_text(price)}")
        for moment, price in history
    ]
    ticks = [low + (high - low) * share for share in (0.0, 0.5, 1.0)]
    return PriceChart(
        width=WIDTH,
        height=HEIGHT,
        points=points,
        current_y=None if current is None else y_of(current),
        median_y=y_of(statistics.median(prices)),
        y_ticks=[(y_of(value), _price_text(value)) for value in ticks],
        x_labels=[(x_of(history[0][0]), f"{history[0][0]:%Y-%m}")]
        + ([(x_of(history[-1][0]), f"{history[-1][0]:%Y-%m}")] if len(history) > 1 else []),
        plot_left=LEFT,
        plot_right=WIDTH - RIGHT,
        plot_top=TOP,
        plot_bottom=HEIGHT - BOTTOM,
    )
