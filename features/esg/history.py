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
from features.store import StoreReader

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

_DELIVERY_QUERY = """
SELECT a.supplier_ids, m.milestone_type, m.status, m.due_date, m.date_met
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
    """Everything known per supplier, read once; read-only afterwards and safe to share.

    ``category_factors`` (category -> kg CO2e per CNY, ``features.esg.carbon``) gives the
    spend-based carbon estimate; ``None`` reads the EPA file from its default place, and a
    missing file leaves estimates NaN (reported intensities still count).
    """

    def __init__(
        self,
        suppliers: dict[str, SupplierRecord],
        *,
        category_factors: Mapping[str, float] | None = None,
    ) -> None:
        self.suppliers = suppliers
        self.category_factors = dict(category_factors or {})
        for record in suppliers.values():
            record.carbon_intensity, record.carbon_reported = carbon_intensity(
                record.reported_emission_intensity, record.categories, self.category_factors
            )
        self.data_through = _data_through(suppliers.values())

    def freshness(self, as_of: date) -> DataFreshness:
        """How far ``as_of`` is past ``data_through`` (the module docstring)."""
        return DataFreshness(self.data_through, as_of)

    def get(self, supplier_id: str) -> SupplierRecord:
        """The supplier's record; an unregistered supplier gets an empty one (nothing known)."""
        return self.suppliers.get(supplier_id) or SupplierRecord(supplier_id)

    def __contains__(self, supplier_id: object) -> bool:
        return supplier_id in self.suppliers

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
        frames = {
            "suppliers": store.query(f"SELECT {', '.join(_REGISTER_COLUMNS)} FROM suppliers"),
            "supplier_certifications": store.query(
                f"SELECT {', '.join(_CERT_COLUMNS)} FROM supplier_certifications"
            ),
            "supplier_events": store.query(
                f"SELECT {', '.join(_EVENT_COLUMNS)} FROM supplier_events"
            ),
            "deliveries": store.query(_DELIVERY_QUERY),
        }
        return cls.from_frames(frames, category_factors=category_factors, factors_path=factors_path)

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
        (``supplier_ids, milestone_type, status, due_date, date_met``). A missing frame is
        empty; tests add or shift rows here."""
        if category_factors is None:
            try:
                category_factors = load_category_factors(factors_path)
            except FileNotFoundError:
                if factors_path is not None:
                    raise
                category_factors = {}
        suppliers: dict[str, SupplierRecord] = {}
        for sid, categories, grade, reported, registered in _rows(
            frames.get("suppliers"), _REGISTER_COLUMNS
        ):
            cats = () if categories is None else tuple(str(c) for c in categories)
            suppliers[str(sid)] = SupplierRecord(
                str(sid),
                categories=cats,
                tax_credit_grade=_text(grade),
                reported_emission_intensity=_number(reported),
                registered_on=_date(registered),
            )

        def record(supplier_id: Any) -> SupplierRecord:
            key = str(supplier_id)
            if key not in suppliers:  # listed in events or certificates, not in the register
                suppliers[key] = SupplierRecord(key)
            return suppliers[key]

        for sid, ctype, number, category, start, end, evidence in _rows(
            frames.get("supplier_certifications"), _CERT_COLUMNS
        ):
            record(sid).certifications.append(
                Certification(
                    str(ctype), str(number), _text(category), _date(start), _date(end),
                    _text(evidence),
                )
            )  # fmt: skip
        for eid, sid, etype, when, severity, deaths, fine, listed, evidence in _rows(
            frames.get("supplier_events"), _EVENT_COLUMNS
        ):
            event_date = _date(when)
            if event_date is None:
                continue
            record(sid).events.append(
                Event(
                    str(eid), str(etype), event_date, _text(severity), int(_number(deaths) or 0),
                    _number(fine) or 0.0, _date(listed), _text(evidence),
                )
            )  # fmt: skip
        for suppliers_of_award, kind, status, due, met in _rows(
            frames.get("deliveries"),
            ("supplier_ids", "milestone_type", "status", "due_date", "date_met"),
        ):
            delivery = _delivery(kind, status, _date(due), _date(met))
            if delivery is None or suppliers_of_award is None:
                continue
            for sid in suppliers_of_award:
                if str(sid) in suppliers:
                    suppliers[str(sid)].deliveries.append(delivery)
        for entry in suppliers.values():
            entry.events.sort(key=lambda e: (e.event_date, e.event_id))
            entry.deliveries.sort(key=lambda d: d.when)
        return cls(suppliers, category_factors=category_factors)


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
