"""Charts drawn on the server as SVG (no script, no style attribute: classes only).

``price_chart`` places a category's past unit prices (dots, by date) and the tender's own
unit price (a horizontal line) on one plot, with the median of the history as a dashed line,
so a price far above its category's past shows at a glance.

``events_chart`` counts a supplier's events per quarter, stacked by severity.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime

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


SEVERITIES = ("major", "serious", "minor", "other")


@dataclass(frozen=True)
class Bar:
    """One severity's part of a quarter's bar; ``severity`` is one of ``SEVERITIES`` (the
    CSS class that colours it)."""

    x: float
    y: float
    width: float
    height: float
    severity: str
    label: str


@dataclass(frozen=True)
class EventsChart:
    width: int
    height: int
    bars: list[Bar]
    y_ticks: list[tuple[float, str]]
    x_labels: list[tuple[float, str]]
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int


def _quarter(day: date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def events_chart(events: list[tuple[date, str | None]], through: date) -> EventsChart | None:
    """Events per calendar quarter, stacked by severity (``major`` at the bottom), from the
    quarter of the first event to that of ``through``; None without events."""
    if not events:
        return None
    first_year, first_q = _quarter(min(day for day, _ in events))
    last_year, last_q = _quarter(max(through, max(day for day, _ in events)))
    quarters = [
        (year, q)
        for year in range(first_year, last_year + 1)
        for q in range(1, 5)
        if (first_year, first_q) <= (year, q) <= (last_year, last_q)
    ]
    counts: dict[tuple[int, int], dict[str, int]] = {quarter: {} for quarter in quarters}
    for day, severity in events:
        kind = severity if severity in SEVERITIES else "other"
        slot = counts[_quarter(day)]
        slot[kind] = slot.get(kind, 0) + 1
    top = max(sum(slot.values()) for slot in counts.values())
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / len(quarters)
    unit = plot_h / top
    bars = []
    for i, quarter in enumerate(quarters):
        base = float(HEIGHT - BOTTOM)
        for severity in SEVERITIES:
            n = counts[quarter].get(severity, 0)
            if not n:
                continue
            height = round(n * unit, 1)
            base = round(base - height, 1)
            bars.append(
                Bar(
                    x=round(LEFT + i * step + step * 0.1, 1),
                    y=base,
                    width=round(step * 0.8, 1),
                    height=height,
                    severity=severity,
                    label=f"{quarter[0]} Q{quarter[1]}: {n} {severity}",
                )
            )
    every = max(1, len(quarters) // 6)
    return EventsChart(
        width=WIDTH,
        height=HEIGHT,
        bars=bars,
        y_ticks=[
            (round(HEIGHT - BOTTOM - value * unit, 1), str(value)) for value in sorted({0, top})
        ],
        x_labels=[
            (round(LEFT + (i + 0.5) * step, 1), f"{year} Q{q}")
            for i, (year, q) in enumerate(quarters)
            if i % every == 0
        ],
        plot_left=LEFT,
        plot_right=WIDTH - RIGHT,
        plot_top=TOP,
        plot_bottom=HEIGHT - BOTTOM,
    )
