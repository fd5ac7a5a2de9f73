"""The evidence shown beside a warning: the bids of the tender, its items, and the unit
price of its first priced item against the history of that item's category (before the
warning's decision date: nothing later than what the model saw)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from serving.console.charts import PriceChart, price_chart
from store.database import Store
from store.queries import console as queries

CATEGORY_HISTORY_POINTS = 200


@dataclass(frozen=True)
class Bid:
    bid_id: str
    bid_date: datetime | None
    status: str | None
    amount: float | None
    currency: str | None
    tenderers: list[str]


@dataclass(frozen=True)
class Item:
    item_id: str
    description: str | None
    category: str | None
    quantity: float | None
    unit_name: str | None
    unit_price: float | None
    currency: str | None


@dataclass(frozen=True)
class Evidence:
    bids: list[Bid]
    items: list[Item]
    chart_category: str | None
    chart_unit_price: float | None
    chart: PriceChart | None


def _bid(row: tuple[Any, ...]) -> Bid:
    bid_id, bid_date, status, amount, currency, tenderers = row
    return Bid(str(bid_id), bid_date, status, amount, currency, list(tenderers or []))


def tender_evidence(store: Store, ocid: str, decided_at: datetime | None) -> Evidence:
    """The evidence of process ``ocid``; the caller holds the store lock. ``decided_at`` is
    naive UTC (as the store holds it)."""
    connection = store.connection
    bids = [_bid(row) for row in queries.tender_bids(connection, ocid)]
    items = [Item(str(row[0]), *row[1:]) for row in queries.tender_items(connection, ocid)]
    priced = next((item for item in items if item.unit_price and item.category), None)
    if priced is None or priced.category is None:
        return Evidence(bids, items, None, None, None)
    history = queries.category_unit_prices(
        connection, priced.category, before=decided_at, limit=CATEGORY_HISTORY_POINTS
    )
    chart = price_chart([(moment, price) for moment, price, _ in history], priced.unit_price)
    return Evidence(bids, items, priced.category, priced.unit_price, chart)
