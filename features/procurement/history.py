"""What the store knew before a date: an in-memory, point-in-time index of procurement history.

``ProcurementHistory.from_store(store)`` reads the procurement tables once, turns every
contracting process into a ``ProcessRecord`` (the same record ``features.procurement.build``
makes from one incoming OCDS release, through the OCDS reader's own flattener) and derives
dated events from the records. Events are grouped by key (a buyer; a supplier; a buyer,
supplier and category; a material category...) into one date-sorted numpy array per column, so
an as-of query "events of this key in ``[t − window, t)``" is two binary searches and a slice.

Dates. Every date is an integer of nanoseconds since 1970-01-01 UTC (naive UTC, as stored).
Each process has two dates:

* ``facts_date``: when what the process says about itself (its award, the bids, the unit
  prices, the order) became known: the latest active award's date if awarded, else the bid
  deadline (``tender.tenderPeriod.endDate``), else the tender's start, else the release date.
  History events of a process are dated at its ``facts_date``; only awarded processes add
  price, order, award and bid events (an open tender's outcome is not yet known).
* ``decision_date``: the date its features are computed as of: the ``facts_date``, or the date
  of the latest contract amendment when one is later. A warning on an amended contract is
  therefore (re)issued when the amendment is known, with the amendments and the contract's
  current value among its inputs; a process without amendments is scored at its award.

Deliveries and quality acceptance are events of the supplier dated when they became known: a
delivery met at ``dateMet``; an unmet delivery one day after its due date (late for certain
from then); a rejected acceptance at its due date.

Point in time. Every query takes ``before`` (exclusive) and the scored process's own ``ocid``
code, and returns events strictly before ``before`` of *other* processes. The scored process's
own facts come from its record, never from the index, so a stored process scored in batch and
the same process sent as a release give the same features, and an updated release of a
stored process never counts its older self.

The supplier register is treated as static (it keeps no history of phones, addresses or
accounts): related-bidder features use the register as loaded.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from core.security import PersonalData
from core.settings import Settings
from features.procurement.redflags import (
    CardinalSettings,
    ProcessEvidence,
    R024Settings,
    process_evidence,
)
from ingest.readers.ocds import TABLE_COLUMNS, ReleaseFlattener
from store.database import StoreReader

DAY_NS = 86_400 * 1_000_000_000
_EPOCH = datetime(1970, 1, 1)
_NAN = float("nan")

PROCUREMENT_TABLES = tuple(TABLE_COLUMNS)
SUBMITTED_BID_STATUSES_EXCLUDED = frozenset({"invited", "withdrawn"})
DIRECT_METHOD = "direct"

# Columns never needed for features: selected as NULL so that no ciphertext or free text is
# loaded (the positions stay those of ``TABLE_COLUMNS``, shared with the OCDS flattener).
_UNUSED_COLUMNS = frozenset(
    {
        ("processes", "buyer_name"),
        ("processes", "title"),
        ("amendments", "rationale"),
        ("amendments", "description"),
        ("milestones", "description"),
        ("parties", "name"),
        ("parties", "identifier_scheme"),
        ("parties", "identifier_id"),
        ("parties", "address_locality"),
        ("parties", "address_region"),
        ("parties", "contact_name_enc"),
        ("parties", "contact_phone_enc"),
    }
)
SUPPLIER_COLUMNS = (
    "supplier_id",
    "phone_fingerprint",
    "address_fingerprint",
    "legal_representative_fingerprint",
    "bank_account_fingerprint",
)
IDENTIFIER_KINDS = ("phone", "address", "legal_representative", "bank_account")


# --------------------------------------------------------------------------------------------
# Rules


@dataclass(frozen=True)
class HistoryRules:
    """Thresholds and windows of the features (the thresholds come from ``Settings``).

    ``min_price_observations``: fewer earlier prices than this and a price ratio is missing.
    ``min_fence_observations``: fewer earlier winner/second-lowest ratios than this and the
    R024/R058 fences are undefined (neither flag fires).
    """

    approval_thresholds_cny: tuple[float, ...] = (50_000.0, 500_000.0)
    legal_tender_threshold_cny: float = 2_000_000.0
    minimum_tender_days: int = 20
    price_window_days: int = 180
    split_window_days: int = 30
    relationship_window_days: int = 365
    min_price_observations: int = 3
    min_fence_observations: int = 30
    currency: str = "CNY"

    @classmethod
    def from_settings(cls, settings: Settings | None) -> HistoryRules:
        if settings is None:
            return cls()
        return cls(
            approval_thresholds_cny=tuple(sorted(settings.approval_thresholds_cny)),
            legal_tender_threshold_cny=settings.legal_tender_threshold_cny,
            minimum_tender_days=settings.minimum_tender_days,
        )

    def cardinal_settings(self) -> CardinalSettings:
        """Cardinal's defaults for the per-process indicators, main currency fixed.

        R024 is enabled (fence +inf) so that ``process_evidence`` keeps the winner/second-lowest
        pair (Cardinal's own computation); R024 and R058 are then decided against fences from
        the history before the process (``ProcurementHistory.fences``, ``ProcessEvidence.as_of``).
        R025, R038 and R048 are dataset-level indicators about organisations; their as-of
        counterparts are the supplier win-ratio and history features, so they are off here.
        """
        settings = CardinalSettings(currency=self.currency)
        settings.r024 = R024Settings(threshold=math.inf)
        settings.r058 = None
        settings.r025 = None
        settings.r038 = None
        settings.r048 = None
        return settings


# --------------------------------------------------------------------------------------------
# Records


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

    def __init__(self, rows: Mapping[str, Sequence[tuple[Any, ...]]]) -> None:
        (process,) = rows["processes"]
        self.digest = rows_digest(rows)
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


# --------------------------------------------------------------------------------------------
# Event indices


class EventIndex:
    """Events grouped by key and sorted by time within each key.

    Layout: one block per key, blocks in the order of the keys' codes (``codes``), each block's
    events sorted by time; ``starts[code]:stops[code]`` is a key's block in ``times``,
    ``ocids`` and ``columns``.

    ``select(key, start, before, exclude)`` returns the positions of the key's events with
    ``start <= time < before`` that do not belong to process ``exclude`` (a slice when none had
    to be dropped, an index array otherwise, ``None`` when empty); ``columns[name][positions]``
    gives their values.

    An index is never changed once built: ``updated`` returns a new index (new arrays), so a
    reader holding this one keeps a consistent view while a push is applied.
    """

    def __init__(
        self,
        keys: Sequence[Hashable],
        times: Sequence[int],
        ocids: Sequence[int],
        columns: Mapping[str, Sequence[float] | np.ndarray],
    ) -> None:
        self.codes: dict[Hashable, int] = {}
        codes = np.fromiter(
            (self.codes.setdefault(key, len(self.codes)) for key in keys), np.int64, len(keys)
        )
        time_array = np.asarray(times, dtype=np.int64)
        order = np.lexsort((time_array, codes))
        self.times = time_array[order]
        self.ocids = np.asarray(ocids, dtype=np.int64)[order]
        self.columns = {
            name: np.asarray(values, dtype=np.float64)[order] for name, values in columns.items()
        }
        sorted_codes = codes[order]
        wanted = np.arange(len(self.codes))
        self.starts: np.ndarray = np.searchsorted(sorted_codes, wanted, "left").astype(np.int64)
        self.stops: np.ndarray = np.searchsorted(sorted_codes, wanted, "right").astype(np.int64)

    def __len__(self) -> int:
        return len(self.times)

    def select(
        self, key: Hashable, start: int | None, before: int, exclude: int
    ) -> slice | np.ndarray | None:
        code = self.codes.get(key)
        if code is None:
            return None
        first, last = int(self.starts[code]), int(self.stops[code])
        times = self.times[first:last]
        low = first if start is None else first + int(np.searchsorted(times, start, "left"))
        high = first + int(np.searchsorted(times, before, "left"))
        if low >= high:
            return None
        if exclude >= 0:
            own = self.ocids[low:high] == exclude
            if own.any():
                kept = np.arange(low, high)[~own]
                return kept if len(kept) else None
        return slice(low, high)

    def updated(self, removed: np.ndarray, added: _EventLists) -> EventIndex:
        """A new index: this one without the events of the processes coded in ``removed``,
        with the events of ``added`` inserted in their keys' blocks in time order (an event
        whose time equals earlier ones goes after them). Cost: one pass over the arrays
        (a copy) plus a binary search per added event; this index is left as it was."""
        if not len(removed) and not added.keys:
            return self
        new = EventIndex.__new__(EventIndex)
        new.codes = self.codes
        times, ocids, columns = self.times, self.ocids, self.columns
        starts, stops = self.starts, self.stops
        if len(removed) and len(times):
            gone = np.isin(ocids, removed)
            if gone.any():
                kept = ~gone
                gone_before = np.concatenate(([0], np.cumsum(gone)))
                starts, stops = starts - gone_before[starts], stops - gone_before[stops]
                times, ocids = times[kept], ocids[kept]
                columns = {name: values[kept] for name, values in columns.items()}
        if added.keys:
            new.codes = dict(self.codes)
            codes = np.fromiter(
                (new.codes.setdefault(key, len(new.codes)) for key in added.keys),
                np.int64,
                len(added.keys),
            )
            grown = len(new.codes) - len(starts)
            if grown:
                end = np.full(grown, len(times), dtype=np.int64)
                starts, stops = np.concatenate((starts, end)), np.concatenate((stops, end))
            added_times = np.asarray(added.times, dtype=np.int64)
            positions = np.fromiter(
                (
                    starts[code]
                    + np.searchsorted(times[starts[code] : stops[code]], moment, "right")
                    for code, moment in zip(codes.tolist(), added_times.tolist(), strict=True)
                ),
                np.int64,
                len(codes),
            )
            # several events at one position: the earlier key's first, then by time (blocks
            # stay in code order; a new key's block starts at the end)
            order = np.lexsort((added_times, codes, positions))
            at = positions[order]
            values = added.matrix()[order]
            times = np.insert(times, at, added_times[order])
            ocids = np.insert(ocids, at, np.asarray(added.ocids, dtype=np.int64)[order])
            columns = {
                name: np.insert(columns[name], at, values[:, k])
                for k, name in enumerate(added.columns)
            }
            counts = np.bincount(codes, minlength=len(starts))
            through = np.cumsum(counts)
            starts, stops = starts + through - counts, stops + through
        new.times, new.ocids, new.columns = times, ocids, columns
        new.starts, new.stops = starts, stops
        return new


@dataclass
class _EventLists:
    """Column lists gathered while walking the records, turned into an ``EventIndex``."""

    columns: tuple[str, ...]
    keys: list[Hashable] = field(default_factory=list)
    times: list[int] = field(default_factory=list)
    ocids: list[int] = field(default_factory=list)
    values: list[tuple[float, ...]] = field(default_factory=list)

    def add(self, key: Hashable, time: int, ocid: int, *values: float) -> None:
        self.keys.append(key)
        self.times.append(time)
        self.ocids.append(ocid)
        self.values.append(values)

    def matrix(self) -> np.ndarray:
        """The values, one row per event, one column per name of ``columns``."""
        if not self.values:
            return np.empty((0, len(self.columns)))
        return np.asarray(self.values, dtype=np.float64).reshape(
            len(self.values), len(self.columns)
        )

    def index(self) -> EventIndex:
        matrix = self.matrix()
        return EventIndex(
            self.keys,
            self.times,
            self.ocids,
            {name: matrix[:, k] for k, name in enumerate(self.columns)},
        )


@dataclass(frozen=True)
class Fences:
    """Cardinal's R024/R058 fences of the winner/second-lowest ratios of the processes whose
    ``facts_date`` falls before each day (UTC): ``days[k]`` is a day's start; the fences on it
    use the ratios dated before it (R-8 quartiles, as Cardinal's statrs).

    ``times``, ``ratios`` and ``owners`` (ocid codes) are the ratios behind them, sorted by
    time, so that ``updated`` recomputes only the days after the earliest change.
    """

    days: np.ndarray
    r024_q1: np.ndarray
    r024_lower: np.ndarray
    r058_upper: np.ndarray
    times: np.ndarray
    ratios: np.ndarray
    owners: np.ndarray
    minimum: int

    def at(self, moment: int) -> tuple[float, float, float]:
        """``(q1, lower fence, upper fence)`` for a process decided at ``moment``."""
        if len(self.days) == 0:
            return _NAN, _NAN, _NAN
        day = moment - moment % DAY_NS
        position = int(np.searchsorted(self.days, day, "right")) - 1
        if position < 0:
            return _NAN, _NAN, _NAN
        return (
            float(self.r024_q1[position]),
            float(self.r024_lower[position]),
            float(self.r058_upper[position]),
        )

    @classmethod
    def build(
        cls, times: np.ndarray, ratios: np.ndarray, owners: np.ndarray, minimum: int
    ) -> Fences:
        keep = ~np.isnan(ratios)
        times, ratios, owners = times[keep], ratios[keep], owners[keep]
        order = np.argsort(times, kind="stable")
        return cls._computed(times[order], ratios[order], owners[order], minimum, None)

    def updated(
        self, removed: np.ndarray, times: np.ndarray, ratios: np.ndarray, owners: np.ndarray
    ) -> Fences:
        """New fences without the ratios of the processes coded in ``removed`` and with the
        given ones; the days before the earliest removed or added ratio keep their values
        (equal to a full ``build`` on the same ratios)."""
        gone = np.isin(self.owners, removed) if len(removed) else np.zeros(len(self.owners), bool)
        keep = ~np.isnan(ratios)
        times, ratios, owners = times[keep], ratios[keep], owners[keep]
        if not gone.any() and not len(times):
            return self
        changed = np.concatenate((self.times[gone], times))
        all_times = np.concatenate((self.times[~gone], times))
        order = np.argsort(all_times, kind="stable")
        all_ratios = np.concatenate((self.ratios[~gone], ratios))[order]
        all_owners = np.concatenate((self.owners[~gone], owners))[order]
        return self._computed(
            all_times[order], all_ratios, all_owners, self.minimum, (self, int(changed.min()))
        )

    @classmethod
    def _computed(
        cls,
        times: np.ndarray,
        ratios: np.ndarray,
        owners: np.ndarray,
        minimum: int,
        unchanged_before: tuple[Fences, int] | None,
    ) -> Fences:
        """Fences over sorted ratios; with ``(earlier fences, moment)`` the days up to
        ``moment`` are copied from the earlier fences (their ratios before them are the same)."""
        if len(times) == 0:
            empty = np.empty(0)
            return cls(np.empty(0, np.int64), empty, empty, empty, times, ratios, owners, minimum)
        first = times[0] - times[0] % DAY_NS
        last = times[-1] - times[-1] % DAY_NS + DAY_NS  # from here on: every ratio
        days = np.arange(first, last + DAY_NS, DAY_NS, dtype=np.int64)
        counts = np.searchsorted(times, days, "left")
        q1 = np.full(len(days), _NAN)
        lower = np.full(len(days), _NAN)
        upper = np.full(len(days), _NAN)
        start = 0
        if unchanged_before is not None:
            earlier, moment = unchanged_before
            if len(earlier.days) and earlier.days[0] == first:
                start = min(int(np.searchsorted(days, moment, "right")), len(earlier.days))
                q1[:start] = earlier.r024_q1[:start]
                lower[:start] = earlier.r024_lower[:start]
                upper[:start] = earlier.r058_upper[:start]
        for k in range(start, len(days)):
            count = counts[k]
            if count < minimum:
                continue
            if k > 0 and counts[k - 1] == count:
                q1[k], lower[k], upper[k] = q1[k - 1], lower[k - 1], upper[k - 1]
                continue
            quartiles = np.quantile(ratios[:count], [0.25, 0.75], method="median_unbiased")
            iqr = quartiles[1] - quartiles[0]
            q1[k] = quartiles[0]
            lower[k] = quartiles[0] - 1.5 * iqr
            upper[k] = quartiles[1] + 1.5 * iqr
        return cls(days, q1, lower, upper, times, ratios, owners, minimum)


# --------------------------------------------------------------------------------------------
# The history


@dataclass(frozen=True)
class SupplierFingerprints:
    """Register fingerprints of one supplier (``None`` where the register has none)."""

    phone: str | None
    address: str | None
    legal_representative: str | None
    bank_account: str | None


def register_fingerprints(suppliers: pd.DataFrame) -> dict[str, SupplierFingerprints]:
    """Supplier register rows (``SUPPLIER_COLUMNS``; others ignored) by supplier id; a later
    row of the same supplier wins."""
    columns = suppliers.reindex(columns=list(SUPPLIER_COLUMNS))
    return {
        str(row[0]): SupplierFingerprints(*(value or None for value in row[1:]))
        for row in columns.astype(object)
        .where(columns.notna(), None)
        .itertuples(index=False, name=None)
    }


# The event indices of a history and the value columns of each.
INDEX_COLUMNS: dict[str, tuple[str, ...]] = {
    "prices": ("unit_price",),
    "spec_prices": ("unit_price",),
    "buyer_spend": ("supplier", "amount"),
    "pair_awards": ("amount", "direct"),
    "supplier_awards": ("amount",),
    "orders": ("amount",),
    "supplier_bids": ("tender", "won"),
    "deliveries": ("delivered", "late", "delay_days", "rejected"),
}


class _Events:
    """The dated events of some records, gathered per index. Supplier codes and tender
    numbers continue from the given ones (the dict and list are extended in place)."""

    def __init__(
        self,
        settings: CardinalSettings,
        supplier_codes: dict[str, int],
        tender_winners: list[frozenset[int]],
    ) -> None:
        self.settings = settings
        self.supplier_codes = supplier_codes
        self.tender_winners = tender_winners
        self.lists = {name: _EventLists(columns) for name, columns in INDEX_COLUMNS.items()}
        self.ratio_times: list[int] = []
        self.ratios: list[float] = []
        self.ratio_owners: list[int] = []

    def supplier_code(self, supplier: str) -> int:
        return self.supplier_codes.setdefault(supplier, len(self.supplier_codes))

    def add(self, record: ProcessRecord, code: int) -> None:
        """The events of one process, coded ``code``: deliveries; and, once awarded, its
        winner/second-lowest ratio, unit prices, awards, orders and bids, dated at the award."""
        lists = self.lists
        self._delivery_events(record, code, lists["deliveries"])
        when = record.award_date
        if when is None:
            return
        ratio = record.cardinal(self.settings).second_lowest_ratio
        if not math.isnan(ratio):
            self.ratio_times.append(when)
            self.ratios.append(ratio)
            self.ratio_owners.append(code)
        for item, unit_price in record.item_unit_prices():
            if item.classification_id is None or math.isnan(unit_price):
                continue
            lists["prices"].add(item.classification_id, when, code, unit_price)
            lists["spec_prices"].add((item.classification_id, item.spec), when, code, unit_price)
        direct = 1.0 if record.is_direct else 0.0
        for supplier, amount in record.supplier_award_totals().items():
            supplier_code = self.supplier_code(supplier)
            lists["buyer_spend"].add(record.buyer_id, when, code, supplier_code, amount)
            lists["pair_awards"].add((record.buyer_id, supplier), when, code, amount, direct)
            lists["supplier_awards"].add(supplier, when, code, amount)
            lists["orders"].add((record.buyer_id, supplier, record.category), when, code, amount)
        bidders = record.bidders
        if bidders:
            tender = len(self.tender_winners)
            winners = frozenset(self.supplier_code(s) for s in record.winners)
            self.tender_winners.append(winners)
            for bidder in bidders:
                won = 1.0 if self.supplier_code(bidder) in winners else 0.0
                lists["supplier_bids"].add(bidder, when, code, tender, won)

    @staticmethod
    def _delivery_events(record: ProcessRecord, code: int, events: _EventLists) -> None:
        if not record.milestones:
            return
        contract_awards = {contract.contract_id: contract.award_id for contract in record.contracts}
        award_suppliers = {award.award_id: award.suppliers for award in record.awards}
        for milestone in record.milestones:
            suppliers = award_suppliers.get(contract_awards.get(milestone.contract_id) or "", ())
            if not suppliers or milestone.due is None:
                continue
            if milestone.kind == "delivery":
                if milestone.status == "met" and milestone.met is not None:
                    delay = (milestone.met - milestone.due) / DAY_NS
                    event = (milestone.met, 1.0, 1.0 if delay >= 1.0 else 0.0, delay, 0.0)
                elif milestone.status == "notMet":
                    event = (milestone.due + DAY_NS, 1.0, 1.0, _NAN, 0.0)
                else:
                    continue
            elif milestone.kind == "acceptance" and milestone.status == "notMet":
                event = (milestone.due, 0.0, 0.0, _NAN, 1.0)
            else:
                continue
            for supplier in suppliers:
                events.add(supplier, event[0], code, *event[1:])

    def ratio_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.asarray(self.ratio_times, dtype=np.int64),
            np.asarray(self.ratios, dtype=np.float64),
            np.asarray(self.ratio_owners, dtype=np.int64),
        )


@dataclass(frozen=True)
class HistoryUpdate:
    """What ``ProcurementHistory.updated`` did: the new history, the ocids of the processes
    it added and of those it replaced (in the order given), how many given processes were
    already there unchanged, and how many register rows added or changed a supplier."""

    history: ProcurementHistory
    new: tuple[str, ...]
    changed: tuple[str, ...]
    unchanged: int
    register_rows: int


class ProcurementHistory:
    """The point-in-time index of the store's procurement history (see the module docstring).

    Build it with ``from_store`` (or ``from_frames``). A history is never changed after it is
    built, so it is safe to share between threads: ``updated`` returns a new history with
    pushed processes added or replaced (copy-on-write: the indices it touches are new arrays,
    the rest is shared), equal in every feature to a full build on the same processes (up to
    the summation order of floating sums over events with equal times). ``records`` keeps
    every process's record, position = ocid code, for batch feature building
    (``keep_records=False`` drops them: serving needs only the indices). Memory: the indices
    take about 18 MB of Python objects and arrays per 20,000 processes; the records, kept for
    batch, about 5 KB per process (0.5 GB at 100,000; peak resident memory of a
    100,000-process batch build 1.3 GB).
    """

    prices: EventIndex
    spec_prices: EventIndex
    buyer_spend: EventIndex
    pair_awards: EventIndex
    supplier_awards: EventIndex
    orders: EventIndex
    supplier_bids: EventIndex
    deliveries: EventIndex
    fences: Fences
    supplier_codes: dict[str, int]
    tender_winners: list[frozenset[int]]

    def __init__(
        self,
        records: list[ProcessRecord],
        suppliers: pd.DataFrame,
        *,
        rules: HistoryRules,
        personal: PersonalData | None = None,
        keep_records: bool = True,
    ) -> None:
        self.rules = rules
        self.personal = personal
        self.cardinal_settings = rules.cardinal_settings()
        self.ocid_codes: dict[str, int] = {}
        for record in records:
            self.ocid_codes.setdefault(record.ocid, len(self.ocid_codes))
        self.digests: dict[str, int] = {record.ocid: record.digest for record in records}
        self.suppliers: dict[str, SupplierFingerprints] = register_fingerprints(suppliers)
        events = _Events(self.cardinal_settings, {}, [])
        for record in records:
            events.add(record, self.ocid_codes[record.ocid])
        self._take_events(events, None, np.empty(0, np.int64))
        self.records: list[ProcessRecord] | None = records if keep_records else None
        self._release_flattener: ReleaseFlattener | None = None

    def _take_events(
        self, events: _Events, base: ProcurementHistory | None, removed: np.ndarray
    ) -> None:
        """Set the indices from ``events``: built afresh, or ``base``'s indices without the
        events of the processes coded in ``removed`` and with ``events`` inserted."""
        for name in INDEX_COLUMNS:
            lists = events.lists[name]
            index = lists.index() if base is None else getattr(base, name).updated(removed, lists)
            setattr(self, name, index)
        times, ratios, owners = events.ratio_arrays()
        self.fences = (
            Fences.build(times, ratios, owners, self.rules.min_fence_observations)
            if base is None
            else base.fences.updated(removed, times, ratios, owners)
        )
        self.supplier_codes = events.supplier_codes
        self.tender_winners = events.tender_winners

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_store(
        cls,
        store: StoreReader,
        *,
        settings: Settings | None = None,
        personal: PersonalData | None = None,
        keep_records: bool = True,
    ) -> ProcurementHistory:
        """Read the store's procurement tables and supplier register once and index them.

        ``personal`` (the installation's keys) is needed only to build features for incoming
        releases: their contact telephones are fingerprinted like the stored ones.
        """
        return cls(
            records_from_store(store),
            store.query(_SUPPLIER_QUERY),
            rules=HistoryRules.from_settings(settings),
            personal=personal,
            keep_records=keep_records,
        )

    @classmethod
    def from_frames(
        cls,
        frames: Mapping[str, pd.DataFrame],
        *,
        settings: Settings | None = None,
        rules: HistoryRules | None = None,
        personal: PersonalData | None = None,
        keep_records: bool = True,
    ) -> ProcurementHistory:
        """Index procurement tables given as frames with the store's columns (tests add or
        change rows here). Keys: the procurement table names and ``suppliers``; a missing
        table is empty. Extra columns (lineage) are ignored."""
        return cls(
            records_from_frames(frames),
            frames.get("suppliers", pd.DataFrame(columns=list(SUPPLIER_COLUMNS))),
            rules=rules or HistoryRules.from_settings(settings),
            personal=personal,
            keep_records=keep_records,
        )

    def updated(
        self, records: Iterable[ProcessRecord], suppliers: pd.DataFrame | None = None
    ) -> HistoryUpdate:
        """This history with ``records`` added, or replacing the stored process of the same
        ocid (its older self and all its events go), and the register rows of ``suppliers``
        added or replacing a supplier's row. Each record is a whole process as it now stands;
        of several records of one ocid the last counts; a record equal to the stored one
        (same row digest) changes nothing. ``self`` is left as it was.

        Cost: a copy of each touched index's arrays (one pass), a binary search per new
        event, and the R024/R058 fences recomputed from the earliest changed award date on
        (a few days for live tenders; the whole span when an old process changes).
        """
        latest = {record.ocid: record for record in records}
        pushed = register_fingerprints(suppliers) if suppliers is not None else {}
        register = {s: row for s, row in pushed.items() if self.suppliers.get(s) != row}
        ocid_codes, digests = dict(self.ocid_codes), dict(self.digests)
        new: list[str] = []
        changed: list[str] = []
        fresh: list[tuple[ProcessRecord, int]] = []
        for ocid, record in latest.items():
            if digests.get(ocid) == record.digest:
                continue
            (changed if ocid in ocid_codes else new).append(ocid)
            code = ocid_codes.setdefault(ocid, len(ocid_codes))
            digests[ocid] = record.digest
            fresh.append((record, code))
        unchanged = len(latest) - len(fresh)
        if not fresh and not register:
            return HistoryUpdate(self, (), (), unchanged, 0)
        history = copy.copy(self)
        history.suppliers = {**self.suppliers, **register} if register else self.suppliers
        if fresh:
            history.ocid_codes, history.digests = ocid_codes, digests
            events = _Events(
                self.cardinal_settings, dict(self.supplier_codes), list(self.tender_winners)
            )
            for record, code in fresh:
                events.add(record, code)
            removed = np.fromiter((ocid_codes[ocid] for ocid in changed), np.int64, len(changed))
            history._take_events(events, self, removed)
            if self.records is not None:
                kept = list(self.records)
                for record, code in fresh:
                    if code < len(kept):
                        kept[code] = record
                    else:
                        kept.append(record)
                history.records = kept
        return HistoryUpdate(history, tuple(new), tuple(changed), unchanged, len(register))

    # ------------------------------------------------------------------ lookups

    def ocid_code(self, ocid: str) -> int:
        """The process's code in the indices, -1 if it is not in the history."""
        return self.ocid_codes.get(ocid, -1)

    def record(self, ocid: str) -> ProcessRecord:
        if self.records is None:
            raise RuntimeError("this history was built with keep_records=False")
        return self.records[self.ocid_codes[ocid]]

    def supplier_known(self, supplier: str) -> bool:
        return supplier in self.suppliers

    def release_flattener(self) -> ReleaseFlattener:
        """The OCDS reader's flattener with this installation's keys (made once: it memoises
        telephone fingerprints)."""
        if self.personal is None:
            raise RuntimeError(
                "this history has no PersonalData: build it with personal=... to score incoming "
                "releases (their telephones are fingerprinted like the stored ones)"
            )
        if self._release_flattener is None:
            self._release_flattener = ReleaseFlattener(self.personal)
        return self._release_flattener


# --------------------------------------------------------------------------------------------
# Reading the store


def _select_list(table: str) -> str:
    return ", ".join(
        f'NULL AS "{name}"' if (table, name) in _UNUSED_COLUMNS else f'"{name}"'
        for name in TABLE_COLUMNS[table]
    )


def _table_query(table: str) -> str:
    return f'SELECT {_select_list(table)} FROM "{table}" ORDER BY ocid'


_SUPPLIER_QUERY = f"SELECT {', '.join(SUPPLIER_COLUMNS)} FROM suppliers ORDER BY supplier_id"


def load_procurement_frames(store: StoreReader) -> dict[str, pd.DataFrame]:
    """The procurement tables (columns of ``TABLE_COLUMNS``; unused text and ciphertext as
    NULL) and the supplier register's fingerprints, as frames."""
    frames = {table: store.query(_table_query(table)) for table in PROCUREMENT_TABLES}
    frames["suppliers"] = store.query(_SUPPLIER_QUERY)
    return frames


def load_process_frames(store: StoreReader, ocids: Sequence[str]) -> dict[str, pd.DataFrame]:
    """The whole stored rows of the processes ``ocids`` in every procurement table (columns
    as ``load_procurement_frames``): what to push after an insert touched them, since a push
    carries each process whole."""
    wanted = sorted({str(ocid) for ocid in ocids})
    return {
        table: store.query(
            f'SELECT {_select_list(table)} FROM "{table}" '
            "WHERE ocid IN (SELECT unnest(?::VARCHAR[])) ORDER BY ocid",
            [wanted],
        )
        for table in PROCUREMENT_TABLES
    }


class _RowGrouper:
    """Table rows grouped by ocid as plain tuples (dates as ns integers, missing as ``None``,
    repeated text shared), one table at a time so that at most one frame is alive."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
        self.order: list[str] = []
        self._texts: dict[str, str] = {}

    def _text(self, value: str) -> str:
        return self._texts.setdefault(value, value)

    def _column(self, series: pd.Series) -> list[Any]:
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            values = series.to_numpy(dtype="datetime64[ns]").astype(np.int64)
            missing = series.isna().to_numpy()
            return [None if gone else int(v) for v, gone in zip(values, missing, strict=True)]
        if pd.api.types.is_float_dtype(series.dtype):
            return series.tolist()
        plain = []
        for value in series.astype(object).where(series.notna(), None).tolist():
            if isinstance(value, str):
                value = self._text(value)
            elif isinstance(value, (list, tuple, np.ndarray)):
                value = tuple(self._text(str(v)) for v in value)
            plain.append(value)
        return plain

    def add(self, table: str, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        columns = [
            self._column(frame[name])
            if name in frame.columns and (table, name) not in _UNUSED_COLUMNS
            else [None] * len(frame)
            for name in TABLE_COLUMNS[table]
        ]
        if table == "processes":
            self.order = list(dict.fromkeys(str(ocid) for ocid in columns[0]))
        for row in zip(*columns, strict=True):
            self.rows.setdefault(str(row[0]), {}).setdefault(table, []).append(row)

    def records(self) -> list[ProcessRecord]:
        """One record per process, in the order of the processes table (rows of other tables
        without a process are ignored); the grouped rows are released as records are made."""
        records = []
        for ocid in self.order:
            rows = self.rows.pop(ocid)
            rows["processes"] = rows["processes"][:1]
            records.append(ProcessRecord(rows))
        self.rows.clear()
        return records


def records_from_frames(frames: Mapping[str, pd.DataFrame]) -> list[ProcessRecord]:
    """One ``ProcessRecord`` per process of ``frames["processes"]`` (in that order)."""
    grouper = _RowGrouper()
    for table in PROCUREMENT_TABLES:
        frame = frames.get(table)
        if frame is not None:
            grouper.add(table, frame)
    return grouper.records()


def records_from_store(store: StoreReader) -> list[ProcessRecord]:
    """``records_from_frames`` reading one table at a time (peak memory: one frame)."""
    grouper = _RowGrouper()
    for table in PROCUREMENT_TABLES:
        grouper.add(table, store.query(_table_query(table)))
    return grouper.records()
