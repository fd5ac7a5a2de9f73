"""One contracting process as the features read it, from its flattened table rows; dates as
nanoseconds since the epoch."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from features.procurement.redflags import CardinalSettings, ProcessEvidence, process_evidence
from ingest.readers.ocds import TABLE_COLUMNS

DAY_NS = 86_400 * 1_000_000_000
_EPOCH = datetime(1970, 1, 1)
_NAN = float("nan")


SUBMITTED_BID_STATUSES_EXCLUDED = frozenset({"invited", "withdrawn"})
DIRECT_METHOD = "direct"


class Item(NamedTuple):
    classification_id: str | None
    spec: str | None
    quantity: float
    unit_value: float
    related_lot: str


class Bid(NamedTuple):
    bid_id: str
    date: int | None
    status: str | None
    amount: float
    currency: str | None
    tenderers: tuple[str, ...]
    lots: tuple[str, ...]


class Award(NamedTuple):
    award_id: str
    date: int | None
    status: str | None
    amount: float
    currency: str | None
    suppliers: tuple[str, ...]
    lots: tuple[str, ...]
    related_bid: str | None


class Contract(NamedTuple):
    contract_id: str
    award_id: str | None
    date_signed: int | None
    amount: float


class Milestone(NamedTuple):
    contract_id: str
    kind: str  # "delivery", "acceptance" or ""
    status: str | None
    due: int | None
    met: int | None


def to_ns(value: object) -> int | None:
    """A datetime (naive UTC), pandas Timestamp or ns integer as ns since the epoch."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, pd.Timestamp):
        return int(value.value) if value.tzinfo is None else int(value.tz_convert(None).value)
    if isinstance(value, datetime):
        return (value - _EPOCH) // timedelta(microseconds=1) * 1000
    raise TypeError(f"not a date: {type(value).__name__}")


def ns_to_iso(value: int) -> str:
    """RFC 3339 text (UTC, microseconds, ``Z``): fixed width, so text order is time order."""
    moment = _EPOCH + timedelta(microseconds=value // 1000)
    return moment.isoformat(timespec="microseconds") + "Z"


def _number(value: object) -> float:
    if value is None:
        return _NAN
    number = float(value)  # type: ignore[arg-type]
    return number


def _ids(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, tuple):
        return value
    return tuple(str(v) for v in value)  # type: ignore[attr-defined]


def rows_digest(rows: Mapping[str, Sequence[tuple[Any, ...]]]) -> int:
    """A 64-bit digest of a process's rows, independent of row order: two pushes of the same
    process as the same rows have the same digest (a value given as 3 once and 3.0 the next
    time differs, which only costs a needless re-score)."""
    digest = hashlib.blake2b(digest_size=8)
    for table in sorted(rows):
        for text in sorted(repr(row) for row in rows[table]):
            digest.update(text.encode())
            digest.update(b"\x1e")
        digest.update(table.encode() + b"\x1d")
    return int.from_bytes(digest.digest(), "big")


def _columns(table: str) -> dict[str, int]:
    return {name: position for position, name in enumerate(TABLE_COLUMNS[table])}


_P, _I, _L = _columns("processes"), _columns("items"), _columns("lots")
_B, _A, _C = _columns("bids"), _columns("awards"), _columns("contracts")
_AM, _M, _PA = _columns("amendments"), _columns("milestones"), _columns("parties")


class ProcessRecord:
    """One contracting process as the features see it, from its flattened table rows.

    ``rows`` maps a procurement table name to the process's rows as tuples in the column order
    of ``ingest.readers.ocds.TABLE_COLUMNS`` (what ``ReleaseFlattener.rows`` returns, and what
    ``load_procurement_frames`` reads from the store). Amounts are floats (NaN when absent);
    dates are ns integers or ``None``.
    """

    __slots__ = (
        "_cardinal",
        "award_date",
        "award_total",
        "awards",
        "bids",
        "buyer_id",
        "category",
        "contract_amendment_dates",
        "contracts",
        "decision_date",
        "digest",
        "estimate",
        "estimate_currency",
        "facts_date",
        "items",
        "lots",
        "main_winner",
        "method",
        "method_details",
        "milestones",
        "number_of_tenderers",
        "ocid",
        "party_phones",
        "release_date",
        "tender_end",
        "tender_start",
        "tender_status",
        "winners",
    )

    def __init__(
        self, rows: Mapping[str, Sequence[tuple[Any, ...]]], *, digest: bool = True
    ) -> None:
        (process,) = rows["processes"]
        # ``digest=False`` (a batch build, which never compares pushes) leaves it None
        self.digest: int | None = rows_digest(rows) if digest else None
        self.ocid: str = str(process[_P["ocid"]])
        self.buyer_id: str | None = process[_P["buyer_id"]]
        self.tender_status: str | None = process[_P["status"]]
        self.method: str | None = process[_P["procurement_method"]]
        self.method_details: str | None = process[_P["procurement_method_details"]]
        self.estimate = _number(process[_P["tender_value_amount"]])
        self.estimate_currency: str | None = process[_P["tender_value_currency"]]
        self.tender_start = to_ns(process[_P["tender_period_start"]])
        self.tender_end = to_ns(process[_P["tender_period_end"]])
        self.release_date = to_ns(process[_P["release_date"]])
        tenderers = process[_P["number_of_tenderers"]]
        self.number_of_tenderers: int | None = None if tenderers is None else int(tenderers)
        self.lots: dict[str, float] = {
            str(row[_L["lot_id"]]): _number(row[_L["value_amount"]]) for row in rows.get("lots", ())
        }
        self.items = [
            Item(
                row[_I["classification_id"]],
                row[_I["description"]],
                _number(row[_I["quantity"]]),
                _number(row[_I["unit_value_amount"]]),
                row[_I["related_lot"]] or "",
            )
            for row in rows.get("items", ())
        ]
        self.bids = [
            Bid(
                str(row[_B["bid_id"]]),
                to_ns(row[_B["bid_date"]]),
                row[_B["status"]],
                _number(row[_B["value_amount"]]),
                row[_B["value_currency"]],
                _ids(row[_B["tenderer_ids"]]),
                _ids(row[_B["related_lots"]]),
            )
            for row in rows.get("bids", ())
        ]
        self.awards = [
            Award(
                str(row[_A["award_id"]]),
                to_ns(row[_A["award_date"]]),
                row[_A["status"]],
                _number(row[_A["value_amount"]]),
                row[_A["value_currency"]],
                _ids(row[_A["supplier_ids"]]),
                _ids(row[_A["related_lots"]]),
                row[_A["related_bid"]],
            )
            for row in rows.get("awards", ())
        ]
        self.contracts = [
            Contract(
                str(row[_C["contract_id"]]),
                row[_C["award_id"]],
                to_ns(row[_C["date_signed"]]),
                _number(row[_C["value_amount"]]),
            )
            for row in rows.get("contracts", ())
        ]
        self.contract_amendment_dates: list[int] = sorted(
            date
            for row in rows.get("amendments", ())
            if row[_AM["scope"]] == "contract"
            and (date := to_ns(row[_AM["amendment_date"]])) is not None
        )
        self.milestones = [
            Milestone(
                str(row[_M["contract_id"]]),
                _milestone_kind(row[_M["milestone_type"]], row[_M["code"]]),
                row[_M["status"]],
                to_ns(row[_M["due_date"]]),
                to_ns(row[_M["date_met"]]),
            )
            for row in rows.get("milestones", ())
        ]
        self.party_phones: dict[str, str] = {
            str(row[_PA["party_id"]]): row[_PA["contact_phone_fingerprint"]]
            for row in rows.get("parties", ())
            if row[_PA["contact_phone_fingerprint"]]
        }
        self._derive()

    def _derive(self) -> None:
        active = self.active_awards
        award_dates = [award.date for award in active if award.date is not None]
        self.award_date: int | None = max(award_dates) if award_dates else None
        self.facts_date: int | None = next(
            (
                d
                for d in (self.award_date, self.tender_end, self.tender_start, self.release_date)
                if d is not None
            ),
            None,
        )
        self.decision_date: int | None = self.facts_date
        if self.facts_date is not None and self.contract_amendment_dates:
            self.decision_date = max(self.facts_date, self.contract_amendment_dates[-1])
        amounts = [award.amount for award in active if not math.isnan(award.amount)]
        self.award_total = math.fsum(amounts) if amounts else _NAN
        self.winners: tuple[str, ...] = tuple(
            sorted({supplier for award in active for supplier in award.suppliers})
        )
        largest = max(
            (award for award in active if award.suppliers),
            key=lambda award: -1.0 if math.isnan(award.amount) else award.amount,
            default=None,
        )
        self.main_winner: str | None = largest.suppliers[0] if largest is not None else None
        main = self.main_item()
        self.category: str | None = main.classification_id if main is not None else None
        self._cardinal: ProcessEvidence | None = None

    @property
    def active_awards(self) -> list[Award]:
        """Awards in force: status ``active`` (or no status) with at least one supplier."""
        return [
            award for award in self.awards if award.status in ("active", None) and award.suppliers
        ]

    @property
    def awarded(self) -> bool:
        return self.award_date is not None

    @property
    def is_direct(self) -> bool:
        return self.method == DIRECT_METHOD

    @property
    def submitted_bids(self) -> list[Bid]:
        return [bid for bid in self.bids if bid.status not in SUBMITTED_BID_STATUSES_EXCLUDED]

    def priced_bids_by_lot(self) -> dict[str, list[float]]:
        """Amounts of the submitted bids with a positive amount, by lot (``""`` for bids
        naming none), in bid order."""
        by_lot: dict[str, list[float]] = {}
        for bid in self.submitted_bids:
            if bid.amount > 0:
                by_lot.setdefault(bid.lots[0] if bid.lots else "", []).append(bid.amount)
        return by_lot

    @property
    def bidders(self) -> tuple[str, ...]:
        """Distinct tenderers of the submitted bids, in order of first appearance."""
        return tuple(dict.fromkeys(t for bid in self.submitted_bids for t in bid.tenderers))

    def supplier_award_totals(self) -> dict[str, float]:
        """Awarded value per supplier (a joint award is shared equally among its suppliers)."""
        totals: dict[str, float] = {}
        for award in self.active_awards:
            if math.isnan(award.amount):
                continue
            share = award.amount / len(award.suppliers)
            for supplier in award.suppliers:
                totals[supplier] = totals.get(supplier, 0.0) + share
        return totals

    def item_unit_prices(self) -> list[tuple[Item, float]]:
        """Each item with its unit price: the awarded price when the process is awarded (the
        item's estimated unit price scaled by its lot's award / estimate), else the estimate.
        Items without a usable price get NaN."""
        awarded = self.awarded
        lot_estimates: dict[str, float] = {}
        lot_items: dict[str, int] = {}
        for item in self.items:
            lot_items[item.related_lot] = lot_items.get(item.related_lot, 0) + 1
            if item.unit_value > 0 and item.quantity > 0:
                lot_estimates[item.related_lot] = (
                    lot_estimates.get(item.related_lot, 0.0) + item.unit_value * item.quantity
                )
        single_lot = len(lot_items) <= 1
        lot_awards: dict[str, float] = {}
        if awarded and single_lot:
            lot_awards[next(iter(lot_items), "")] = self.award_total
        elif awarded:
            for award in self.active_awards:
                if math.isnan(award.amount):
                    continue
                lots = award.lots or ("",)
                for lot in lots:
                    lot_awards[lot] = lot_awards.get(lot, 0.0) + award.amount / len(lots)
        prices = []
        for item in self.items:
            lot = item.related_lot
            estimate = self.lots.get(lot, _NAN) if not single_lot else self.estimate
            if not estimate > 0:
                estimate = lot_estimates.get(lot, _NAN)
            unit = item.unit_value if item.unit_value > 0 else _NAN
            if awarded:
                lot_award = lot_awards.get(lot, _NAN)
                if not math.isnan(unit) and estimate > 0:
                    unit = unit * lot_award / estimate
                elif item.quantity > 0 and lot_items.get(lot) == 1:
                    unit = lot_award / item.quantity
                else:
                    unit = _NAN
            prices.append((item, unit if unit > 0 else _NAN))
        return prices

    def main_item(self) -> Item | None:
        """The item of largest estimated value (quantity × unit value); the first if none."""
        if not self.items:
            return None
        return max(
            self.items,
            key=lambda item: (
                item.quantity * item.unit_value if item.quantity > 0 and item.unit_value > 0 else -1
            ),
        )

    def cardinal_release(self) -> dict[str, Any]:
        """The OCDS fields Cardinal's per-process indicators read, rebuilt from the record so
        that a stored process and the same process sent as a release are judged alike."""
        tender: dict[str, Any] = {}
        for key, value in (
            ("status", self.tender_status),
            ("procurementMethod", self.method),
            ("procurementMethodDetails", self.method_details),
            ("numberOfTenderers", self.number_of_tenderers),
        ):
            if value is not None:
                tender[key] = value
        period = {
            key: ns_to_iso(value)
            for key, value in (("startDate", self.tender_start), ("endDate", self.tender_end))
            if value is not None
        }
        if period:
            tender["tenderPeriod"] = period
        release: dict[str, Any] = {"ocid": self.ocid, "tender": tender}
        if self.buyer_id is not None:
            release["buyer"] = {"id": self.buyer_id}
        if self.bids:
            release["bids"] = {"details": [_cardinal_object(bid, "tenderers") for bid in self.bids]}
        if self.awards:
            release["awards"] = [_cardinal_object(award, "suppliers") for award in self.awards]
        return release

    def cardinal(self, settings: CardinalSettings) -> ProcessEvidence:
        """Cardinal's per-process flags for this record with their figures, R024/R058 not
        among them (they need the as-of fences), computed once, then cached: a history uses
        one settings object, ``HistoryRules.cardinal_settings``."""
        if self._cardinal is None:
            self._cardinal = process_evidence(self.cardinal_release(), settings)
        return self._cardinal


def _cardinal_object(entry: Bid | Award, parties_key: str) -> dict[str, Any]:
    data: dict[str, Any] = {"id": entry[0]}
    if entry.status is not None:
        data["status"] = entry.status
    if entry.date is not None:
        data["date"] = ns_to_iso(entry.date)
    if not math.isnan(entry.amount):
        data["value"] = {"amount": entry.amount, "currency": entry.currency}
    parties = entry.tenderers if isinstance(entry, Bid) else entry.suppliers
    data[parties_key] = [{"id": party} for party in parties]
    return data


def _milestone_kind(milestone_type: str | None, code: str | None) -> str:
    if milestone_type == "delivery" or code == "delivery":
        return "delivery"
    if milestone_type == "acceptance" or code in ("quality", "acceptance"):
        return "acceptance"
    return ""
