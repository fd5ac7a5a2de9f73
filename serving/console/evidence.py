"""The evidence shown beside a warning: the bids of the tender, its items, the unit price of
its first priced item against the history of that item's category (before the warning's
decision date: nothing later than what the model saw), the pairs of its bidders that share an
identifier (the related-bidder red flag's evidence, matched on keyed fingerprints: the page
says *that* two bidders share a telephone, never the number), and the amendments of the
tender and its contracts (all of them, those after the decision date marked: a contract
inflated after the award is what an auditor looks for)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from features.procurement.evidence import related_bidders
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
class RelatedPair:
    """Two bidders of the tender sharing an identifier of ``kind`` (phone, address,
    legal_representative, bank_account), found in ``sources`` (register, contact point)."""

    supplier_a: str
    name_a: str | None
    supplier_b: str
    name_b: str | None
    kind: str
    sources: list[str]


@dataclass(frozen=True)
class Amendment:
    """``scope`` is tender or contract (``parent_id`` the contract's id); ``after_decision``
    when dated after the warning's decision date."""

    scope: str
    parent_id: str
    amendment_id: str
    amendment_date: datetime | None
    rationale: str | None
    description: str | None
    after_decision: bool


@dataclass(frozen=True)
class Evidence:
    bids: list[Bid]
    items: list[Item]
    chart_category: str | None
    chart_unit_price: float | None
    chart: PriceChart | None
    related: list[RelatedPair]
    amendments: list[Amendment]


def _bid(row: tuple[Any, ...]) -> Bid:
    bid_id, bid_date, status, amount, currency, tenderers = row
    return Bid(str(bid_id), bid_date, status, amount, currency, list(tenderers or []))


def _text(value: Any) -> str | None:
    """A name from a DataFrame cell: None for missing (None, NaN)."""
    return value if isinstance(value, str) else None


def related_pairs(store: Store, ocid: str) -> list[RelatedPair]:
    """The tender's bidder pairs sharing an identifier, one per pair and kind."""
    return [
        RelatedPair(
            supplier_a=str(row.supplier_a),
            name_a=_text(row.name_a),
            supplier_b=str(row.supplier_b),
            name_b=_text(row.name_b),
            kind=str(row.kind),
            sources=str(row.source).split(" and "),
        )
        for row in related_bidders(store, ocid).itertuples(index=False)
    ]


def amendments(store: Store, ocid: str, decided_at: datetime | None) -> list[Amendment]:
    return [
        Amendment(
            scope=str(scope),
            parent_id=str(parent or ""),
            amendment_id=str(amendment_id),
            amendment_date=dated,
            rationale=rationale,
            description=description,
            after_decision=dated is not None and decided_at is not None and dated > decided_at,
        )
        for scope, parent, amendment_id, dated, rationale, description in queries.tender_amendments(
            store.connection, ocid
        )
    ]


def tender_evidence(store: Store, ocid: str, decided_at: datetime | None) -> Evidence:
    """The evidence of process ``ocid``; the caller holds the store lock. ``decided_at`` is
    naive UTC (as the store holds it)."""
    connection = store.connection
    bids = [_bid(row) for row in queries.tender_bids(connection, ocid)]
    items = [Item(str(row[0]), *row[1:]) for row in queries.tender_items(connection, ocid)]
    related = related_pairs(store, ocid)
    changes = amendments(store, ocid, decided_at)
    priced = next((item for item in items if item.unit_price and item.category), None)
    if priced is None or priced.category is None:
        return Evidence(bids, items, None, None, None, related, changes)
    history = queries.category_unit_prices(
        connection, priced.category, before=decided_at, limit=CATEGORY_HISTORY_POINTS
    )
    chart = price_chart([(moment, price) for moment, price, _ in history], priced.unit_price)
    return Evidence(bids, items, priced.category, priced.unit_price, chart, related, changes)
