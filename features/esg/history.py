"""The point-in-time index of what the store knows about each supplier, for ESG features and
knock-outs.

Per supplier: the register entry (categories, tax credit grade, reported carbon intensity,
date entered in the register), its certifications with validity and evidence, its events
sorted by date, and its deliveries to the group (from contract milestones). Nothing here
filters by date: ``features.esg.build`` and ``features.esg.knockouts`` take an ``as_of`` and
read only what was dated before it.

Register attributes that are not criteria by rule (ownership, region, registered capital,
founding date; ``features.esg.specs.NOT_CRITERIA``) are never read into the history.

``data_through`` is the latest date the history knows of: an event, a certificate's start or
an entry in the register (deliveries and certificate expiries are not counted: they are not
news about the supplier). ``freshness(as_of)`` compares a screen's date with it: a screen more
than ``STALE_AFTER_DAYS`` after the data ends may miss listings and accidents that happened
since (the store is behind, not the supplier clean).

Deliveries follow the procurement model's definitions: a delivery milestone met at
``date_met`` (late when a day or more after ``due_date``) or not met (late, dated the day
after it was due); an acceptance milestone not met is a quality rejection dated when due.
Each counts for every supplier of the contract's award.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from features.esg.carbon import carbon_intensity, load_category_factors
from store.database import StoreReader

_REGISTER_COLUMNS = (
    "supplier_id",
    "categories",
    "tax_credit_grade",
    "reported_emission_intensity",
    "registered_on",
)
_CERT_COLUMNS = (
    "supplier_id",
    "cert_type",
    "cert_no",
    "category",
    "valid_from",
    "valid_to",
    "evidence_document",
)
_EVENT_COLUMNS = (
    "event_id",
    "supplier_id",
    "event_type",
    "event_date",
    "severity",
    "deaths",
    "fine_cny",
    "listed_until",
    "evidence_document",
)
STALE_AFTER_DAYS = 30
"""A screen more than this many days after ``data_through`` is on stale data."""

_DELIVERY_COLUMNS = ("ocid", "supplier_ids", "milestone_type", "status", "due_date", "date_met")
_DELIVERY_JOIN_COLUMNS = {
    "milestones": ("ocid", "contract_id", "milestone_type", "status", "due_date", "date_met"),
    "contracts": ("ocid", "contract_id", "award_id"),
    "awards": ("ocid", "award_id", "supplier_ids"),
}
_DELIVERY_QUERY = """
SELECT m.ocid, a.supplier_ids, m.milestone_type, m.status, m.due_date, m.date_met
FROM milestones m
JOIN contracts c ON c.ocid = m.ocid AND c.contract_id = m.contract_id
JOIN awards a ON a.ocid = c.ocid AND a.award_id = c.award_id
WHERE m.milestone_type IN ('delivery', 'acceptance')
"""


@dataclass(frozen=True)
class Certification:
    cert_type: str
    cert_no: str
    category: str | None
    valid_from: date | None
    valid_to: date | None
    evidence_document: str | None

    def valid_at(self, as_of: date) -> bool:
        """In force at ``as_of`` *and* backed by a document (a claim without one is absent)."""
        return (
            self.evidence_document is not None
            and (self.valid_from is None or self.valid_from <= as_of)
            and (self.valid_to is None or as_of <= self.valid_to)
        )


@dataclass(frozen=True)
class Event:
    event_id: str
    event_type: str
    event_date: date
    severity: str | None
    deaths: int
    fine_cny: float
    listed_until: date | None
    evidence_document: str | None


@dataclass(frozen=True)
class Delivery:
    when: date
    delivered: bool  # a delivery milestone (met or not)
    late: bool
    rejected: bool  # an acceptance not met


@dataclass
class SupplierRecord:
    supplier_id: str
    categories: tuple[str, ...] = ()
    tax_credit_grade: str | None = None
    reported_emission_intensity: float | None = None
    registered_on: date | None = None
    certifications: list[Certification] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)  # sorted by date, then id
    deliveries: list[Delivery] = field(default_factory=list)  # sorted by date
    carbon_intensity: float = math.nan
    carbon_reported: bool = False


def _date(value: Any) -> date | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    stamp = pd.Timestamp(value)
    return None if pd.isna(stamp) else stamp.date()


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _rows(frame: pd.DataFrame | None, columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
    if frame is None or frame.empty:
        return []
    present = frame.reindex(columns=list(columns))
    return list(present.astype(object).where(present.notna(), None).itertuples(index=False))


@dataclass(frozen=True)
class DataFreshness:
    """How far a screen's ``as_of`` is past the supplier data it reads."""

    data_through: date | None  # latest event, certificate or register date; None: no data
    as_of: date

    @property
    def days_after_data(self) -> int | None:
        """``as_of`` − ``data_through`` in days (negative: a screen inside the data)."""
        return None if self.data_through is None else (self.as_of - self.data_through).days

    @property
    def stale(self) -> bool:
        """No supplier data, or ``as_of`` more than ``STALE_AFTER_DAYS`` after it ends."""
        days = self.days_after_data
        return days is None or days > STALE_AFTER_DAYS

    @property
    def note_en(self) -> str | None:
        if self.data_through is None:
            return "the store holds no supplier data: every screen is unknown"
        if not self.stale:
            return None
        return (
            f"stale data: the supplier data runs through {self.data_through.isoformat()}, "
            f"{self.days_after_data} days before {self.as_of.isoformat()}; listings, accidents "
            "and expiries since then are not seen (load newer supplier data, or screen as of a "
            "date inside it)"
        )

    @property
    def note_zh(self) -> str | None:
        if self.data_through is None:
            return "库中无供应商数据：所有筛查结果均为未知"
        if not self.stale:
            return None
        return (
            f"数据陈旧：供应商数据截至 {self.data_through.isoformat()}，早于筛查日期 "
            f"{self.as_of.isoformat()} {self.days_after_data} 天；此后的失信名单、事故和证书到期"
            "均未反映（请导入更新的供应商数据，或按数据期内的日期筛查）"
        )


class SupplierHistory:
    """Everything known per supplier; immutable once built and safe to share.

    ``category_factors`` (category -> kg CO2e per CNY, ``features.esg.carbon``) gives the
    spend-based carbon estimate; ``None`` reads the EPA file from its default place, and a
    missing file leaves estimates NaN (reported intensities still count).

    Updates. ``updated(frames)`` returns the next history with new or changed store rows
    applied (the register, certifications and events by their store keys; deliveries as the
    whole of each contracting process pushed) and leaves this one as it was: records of
    untouched suppliers are shared, touched ones are new objects. A full build is the update
    of an empty history with every row, so any sequence of updates over the same rows gives
    the same records, whatever the order (a late event lands at its date: records keep events
    sorted by date and every feature reads only what is dated before its ``as_of``).
    """

    def __init__(
        self,
        suppliers: dict[str, SupplierRecord],
        *,
        category_factors: Mapping[str, float] | None = None,
        parts: SupplierParts | None = None,
    ) -> None:
        self.suppliers = suppliers
        self.category_factors = dict(category_factors or {})
        if parts is None:  # records built elsewhere (benchmarks): carbon is computed here
            for record in suppliers.values():
                record.carbon_intensity, record.carbon_reported = carbon_intensity(
                    record.reported_emission_intensity, record.categories, self.category_factors
                )
            parts = SupplierParts.of_records(suppliers)
        self.parts = parts
        self.data_through = _data_through(suppliers.values())

    def freshness(self, as_of: date) -> DataFreshness:
        """How far ``as_of`` is past ``data_through`` (the module docstring)."""
        return DataFreshness(self.data_through, as_of)

    def get(self, supplier_id: str) -> SupplierRecord:
        """The supplier's record; an unregistered supplier gets an empty one (nothing known)."""
        return self.suppliers.get(supplier_id) or SupplierRecord(supplier_id)

    def __contains__(self, supplier_id: object) -> bool:
        return supplier_id in self.suppliers

    def __len__(self) -> int:
        return len(self.suppliers)

    @property
    def supplier_ids(self) -> list[str]:
        return sorted(self.suppliers)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_store(
        cls,
        store: StoreReader,
        *,
        category_factors: Mapping[str, float] | None = None,
        factors_path: Path | None = None,
    ) -> SupplierHistory:
        """Read the register, certifications, events and deliveries from ``store``."""
        return cls.from_frames(
            read_supplier_frames(store),
            category_factors=category_factors,
            factors_path=factors_path,
        )

    @classmethod
    def empty(
        cls,
        *,
        category_factors: Mapping[str, float] | None = None,
        factors_path: Path | None = None,
    ) -> SupplierHistory:
        """A history that knows nothing (what updates start from)."""
        if category_factors is None:
            try:
                category_factors = load_category_factors(factors_path)
            except FileNotFoundError:
                if factors_path is not None:
                    raise
                category_factors = {}
        return cls({}, category_factors=category_factors, parts=SupplierParts())

    @classmethod
    def from_frames(
        cls,
        frames: Mapping[str, pd.DataFrame],
        *,
        category_factors: Mapping[str, float] | None = None,
        factors_path: Path | None = None,
    ) -> SupplierHistory:
        """Build from frames with the store's columns: ``suppliers``,
        ``supplier_certifications``, ``supplier_events`` and optionally ``deliveries``
        (``supplier_ids, milestone_type, status, due_date, date_met`` and, to be replaceable
        per process, ``ocid``) or the procurement tables they come from (``processes``,
        ``awards``, ``contracts``, ``milestones``). A missing frame is empty; tests add or
        shift rows here."""
        empty = cls.empty(category_factors=category_factors, factors_path=factors_path)
        return empty.updated(frames).history

    def updated(self, frames: Mapping[str, pd.DataFrame]) -> SupplierUpdate:
        """The history with ``frames`` applied (store tables, as ``from_frames``; rows with
        the key of a row held replace it), and which suppliers' records it added or changed.
        Returns this very history when nothing changed (an idempotent re-push)."""
        changes = _PartsChanges(self.parts)
        ignored = changes.apply(frames)
        if not changes.touched:
            return SupplierUpdate(self, (), (), ignored_rows=ignored)
        parts = changes.parts()
        suppliers = dict(self.suppliers)
        new: list[str] = []
        changed: list[str] = []
        for supplier_id in sorted(changes.touched):
            record = _record(supplier_id, parts, self.category_factors)
            before = suppliers.get(supplier_id)
            if record is None:
                suppliers.pop(supplier_id, None)
            else:
                suppliers[supplier_id] = record
            if before is None and record is not None:
                new.append(supplier_id)
            elif before is not None:
                changed.append(supplier_id)
        history = SupplierHistory(suppliers, category_factors=self.category_factors, parts=parts)
        return SupplierUpdate(history, tuple(new), tuple(changed), ignored_rows=ignored)


@dataclass(frozen=True)
class SupplierUpdate:
    """The history after an update; the suppliers whose records it added (``new``) or
    changed (``changed``: removed ones too); store rows it could not place."""

    history: SupplierHistory
    new: tuple[str, ...]
    changed: tuple[str, ...]
    ignored_rows: int = 0


# --------------------------------------------------------------------------------------------
# The keyed rows behind the records


@dataclass(frozen=True)
class RegisterEntry:
    categories: tuple[str, ...] = ()
    tax_credit_grade: str | None = None
    reported_emission_intensity: float | None = None
    registered_on: date | None = None


_NO_ENTRY = RegisterEntry()
Deliveries = tuple[tuple[tuple[str, ...], Delivery], ...]
"""One process's deliveries: (the award's supplier ids, the delivery), in milestone order."""


@dataclass(frozen=True)
class SupplierParts:
    """The store rows a history is made of, by their keys (never mutated: an update copies
    the dicts it changes).

    ``register``: supplier id -> register entry. ``certifications``: supplier id ->
    (cert type, cert no) -> certification. ``events``: supplier id -> event id -> event;
    ``event_owner``: event id -> supplier id (an event's row may move it to another
    supplier). ``deliveries``: ocid -> that process's deliveries; ``supplier_processes``:
    supplier id -> the ocids with a delivery of theirs."""

    register: Mapping[str, RegisterEntry] = field(default_factory=dict)
    certifications: Mapping[str, Mapping[tuple[str, str], Certification]] = field(
        default_factory=dict
    )
    events: Mapping[str, Mapping[str, Event]] = field(default_factory=dict)
    event_owner: Mapping[str, str] = field(default_factory=dict)
    deliveries: Mapping[str, Deliveries] = field(default_factory=dict)
    supplier_processes: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of_records(cls, suppliers: Mapping[str, SupplierRecord]) -> SupplierParts:
        """The parts of records built by hand (their deliveries under one process, ``""``)."""
        deliveries: dict[str, list[tuple[tuple[str, ...], Delivery]]] = {"": []}
        for sid, record in suppliers.items():
            deliveries[""].extend(((sid,), d) for d in record.deliveries)
        return cls(
            register={
                sid: RegisterEntry(
                    r.categories,
                    r.tax_credit_grade,
                    r.reported_emission_intensity,
                    r.registered_on,
                )
                for sid, r in suppliers.items()
            },
            certifications={
                sid: {(c.cert_type, c.cert_no): c for c in r.certifications}
                for sid, r in suppliers.items()
            },
            events={sid: {e.event_id: e for e in r.events} for sid, r in suppliers.items()},
            event_owner={e.event_id: sid for sid, r in suppliers.items() for e in r.events},
            deliveries={"": tuple(deliveries[""])},
            supplier_processes={sid: frozenset({""}) for sid in suppliers},
        )


class _PartsChanges:
    """Copy-on-write edits of ``SupplierParts``: the first edit of a dict (or of a supplier's
    inner dict) copies it; ``touched`` collects the suppliers whose record must be rebuilt."""

    def __init__(self, parts: SupplierParts) -> None:
        self._old = parts
        self.register = parts.register
        self.certifications = parts.certifications
        self.events = parts.events
        self.event_owner = parts.event_owner
        self.deliveries = parts.deliveries
        self.supplier_processes = parts.supplier_processes
        self._copied: set[tuple[str, str]] = set()
        self.touched: set[str] = set()

    def parts(self) -> SupplierParts:
        return SupplierParts(
            self.register, self.certifications, self.events, self.event_owner,
            self.deliveries, self.supplier_processes,
        )  # fmt: skip

    def _own(self, name: str) -> dict[Any, Any]:
        """The dict ``name`` of the parts, copied on first use."""
        if (name, "") not in self._copied:
            self._copied.add((name, ""))
            setattr(self, name, dict(getattr(self, name)))
        owned: dict[Any, Any] = getattr(self, name)
        return owned

    def _own_inner(self, name: str, supplier_id: str) -> dict[Any, Any]:
        outer = self._own(name)
        if (name, supplier_id) not in self._copied:
            self._copied.add((name, supplier_id))
            outer[supplier_id] = dict(outer.get(supplier_id, {}))
        inner: dict[Any, Any] = outer[supplier_id]
        return inner

    def apply(self, frames: Mapping[str, pd.DataFrame]) -> int:
        """Apply every table of ``frames``; returns the rows that could not be placed."""
        ignored = 0
        register = frames.get("suppliers")
        if register is not None and not register.empty:
            if set(_REGISTER_COLUMNS) <= set(register.columns):
                for row in _rows(register, _REGISTER_COLUMNS):
                    self.set_register(str(row[0]), _register_entry(row))
            else:  # a register frame without the ESG columns (fingerprints only)
                ignored += len(register)
        for row in _rows(frames.get("supplier_certifications"), _CERT_COLUMNS):
            self.set_certification(str(row[0]), _certification(row))
        for row in _rows(frames.get("supplier_events"), _EVENT_COLUMNS):
            self.set_event(str(row[0]), str(row[1]), _event(row))
        for ocid, deliveries in process_deliveries(frames).items():
            self.set_deliveries(ocid, deliveries)
        return ignored

    def set_register(self, supplier_id: str, entry: RegisterEntry) -> None:
        if self.register.get(supplier_id) != entry:
            self._own("register")[supplier_id] = entry
            self.touched.add(supplier_id)

    def set_certification(self, supplier_id: str, certification: Certification) -> None:
        key = (certification.cert_type, certification.cert_no)
        held = self.certifications.get(supplier_id, {})
        if key not in held or held[key] != certification:
            self._own_inner("certifications", supplier_id)[key] = certification
            self.touched.add(supplier_id)

    def set_event(self, event_id: str, supplier_id: str, event: Event | None) -> None:
        """Add or replace an event (``None``: an undated row, which no history holds)."""
        owner = self.event_owner.get(event_id)
        if owner is not None and (owner != supplier_id or event is None):
            del self._own_inner("events", owner)[event_id]
            if not self.events[owner]:
                del self._own("events")[owner]
            del self._own("event_owner")[event_id]
            self.touched.add(owner)
        if event is None:
            return
        if self.events.get(supplier_id, {}).get(event_id) != event:
            self._own_inner("events", supplier_id)[event_id] = event
            self._own("event_owner")[event_id] = supplier_id
            self.touched.add(supplier_id)

    def set_deliveries(self, ocid: str, deliveries: Deliveries) -> None:
        """Replace process ``ocid``'s deliveries (a process comes whole)."""
        before = self.deliveries.get(ocid, ())
        if before == deliveries:
            return
        old_suppliers = {sid for sids, _ in before for sid in sids}
        new_suppliers = {sid for sids, _ in deliveries for sid in sids}
        if deliveries:
            self._own("deliveries")[ocid] = deliveries
        else:
            del self._own("deliveries")[ocid]
        index = self._own("supplier_processes")
        for sid in old_suppliers - new_suppliers:
            remaining = index[sid] - {ocid}
            if remaining:
                index[sid] = remaining
            else:
                del index[sid]
        for sid in new_suppliers - old_suppliers:
            index[sid] = index.get(sid, frozenset()) | {ocid}
        self.touched |= old_suppliers | new_suppliers


def _register_entry(row: tuple[Any, ...]) -> RegisterEntry:
    _, categories, grade, reported, registered = row
    return RegisterEntry(
        categories=() if categories is None else tuple(str(c) for c in categories),
        tax_credit_grade=_text(grade),
        reported_emission_intensity=_number(reported),
        registered_on=_date(registered),
    )


def _certification(row: tuple[Any, ...]) -> Certification:
    _, ctype, number, category, start, end, evidence = row
    return Certification(
        str(ctype), str(number), _text(category), _date(start), _date(end), _text(evidence)
    )


def _event(row: tuple[Any, ...]) -> Event | None:
    eid, _, etype, when, severity, deaths, fine, listed, evidence = row
    event_date = _date(when)
    if event_date is None:
        return None
    return Event(
        str(eid), str(etype), event_date, _text(severity), int(_number(deaths) or 0),
        _number(fine) or 0.0, _date(listed), _text(evidence),
    )  # fmt: skip


def _record(
    supplier_id: str, parts: SupplierParts, category_factors: Mapping[str, float]
) -> SupplierRecord | None:
    """The supplier's record from the parts; None when neither the register, a certificate
    nor an event knows it (deliveries alone make no record)."""
    entry = parts.register.get(supplier_id)
    certifications = parts.certifications.get(supplier_id, {})
    events = parts.events.get(supplier_id, {})
    if entry is None and not certifications and not events:
        return None
    entry = entry or _NO_ENTRY
    deliveries = [
        delivery
        for ocid in parts.supplier_processes.get(supplier_id, ())
        for sids, delivery in parts.deliveries[ocid]
        if supplier_id in sids
    ]
    record = SupplierRecord(
        supplier_id,
        categories=entry.categories,
        tax_credit_grade=entry.tax_credit_grade,
        reported_emission_intensity=entry.reported_emission_intensity,
        registered_on=entry.registered_on,
        certifications=[certifications[key] for key in sorted(certifications)],
        events=sorted(events.values(), key=lambda e: (e.event_date, e.event_id)),
        deliveries=sorted(deliveries, key=lambda d: (d.when, d.delivered, d.late, d.rejected)),
    )
    record.carbon_intensity, record.carbon_reported = carbon_intensity(
        entry.reported_emission_intensity, entry.categories, category_factors
    )
    return record


# --------------------------------------------------------------------------------------------
# Reading rows


def read_supplier_frames(store: StoreReader) -> dict[str, pd.DataFrame]:
    """The register, certifications, events and per-process delivery rows of ``store``."""
    return {
        "suppliers": store.query(f"SELECT {', '.join(_REGISTER_COLUMNS)} FROM suppliers"),
        "supplier_certifications": store.query(
            f"SELECT {', '.join(_CERT_COLUMNS)} FROM supplier_certifications"
        ),
        "supplier_events": store.query(f"SELECT {', '.join(_EVENT_COLUMNS)} FROM supplier_events"),
        "deliveries": store.query(_DELIVERY_QUERY),
    }


def process_deliveries(frames: Mapping[str, pd.DataFrame]) -> dict[str, Deliveries]:
    """Each process's deliveries: from a ``deliveries`` frame (the store query's rows; no
    ``ocid`` column: all under ``""``), else from the procurement tables, where every process
    with a ``processes`` row gets its deliveries (possibly none: a process comes whole)."""
    found: dict[str, list[tuple[tuple[str, ...], Delivery]]] = {}
    rows = frames.get("deliveries")
    if rows is None:
        processes = frames.get("processes")
        if processes is None or processes.empty:
            return {}
        found = {str(ocid): [] for ocid in processes["ocid"]}
        rows = _delivery_rows(frames, set(found))
    elif "ocid" not in rows.columns:
        rows = rows.assign(ocid="")
    for ocid, sids, kind, status, due, met in _rows(rows, _DELIVERY_COLUMNS):
        delivery = _delivery(kind, status, _date(due), _date(met))
        if delivery is None or sids is None:
            continue
        found.setdefault(str(ocid), []).append((tuple(str(s) for s in sids), delivery))
    return {ocid: tuple(deliveries) for ocid, deliveries in found.items()}


def _delivery_rows(frames: Mapping[str, pd.DataFrame], ocids: set[str]) -> pd.DataFrame:
    """The store query's join (milestones, contracts, awards) over pushed processes."""
    tables = {}
    for table, columns in _DELIVERY_JOIN_COLUMNS.items():
        frame = frames.get(table)
        if frame is None or frame.empty:
            return pd.DataFrame(columns=list(_DELIVERY_COLUMNS))
        frame = frame[frame["ocid"].astype(str).isin(ocids)]
        tables[table] = frame[list(columns)].astype({"ocid": str})
    milestones = tables["milestones"]
    milestones = milestones[milestones["milestone_type"].isin(["delivery", "acceptance"])]
    joined = milestones.merge(tables["contracts"], on=["ocid", "contract_id"]).merge(
        tables["awards"], on=["ocid", "award_id"]
    )
    return joined[list(_DELIVERY_COLUMNS)]


def _data_through(records: Iterable[SupplierRecord]) -> date | None:
    """The latest event date, certificate start or register date of ``records``."""
    dates = [
        day
        for record in records
        for day in (
            record.registered_on,
            *(e.event_date for e in record.events),
            *(c.valid_from for c in record.certifications),
        )
        if day is not None
    ]
    return max(dates, default=None)


def _delivery(kind: Any, status: Any, due: date | None, met: date | None) -> Delivery | None:
    if due is None:
        return None
    if kind == "delivery":
        if status == "met" and met is not None:
            return Delivery(met, True, (met - due).days >= 1, False)
        if status == "notMet":
            return Delivery(due + timedelta(days=1), True, True, False)
        return None
    if kind == "acceptance" and status == "notMet":
        return Delivery(due, False, False, True)
    return None
