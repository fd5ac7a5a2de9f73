"""What the history holds per supplier: certifications, events and deliveries."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd


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


Deliveries = tuple[tuple[tuple[str, ...], Delivery], ...]
"""One process's deliveries: (the award's supplier ids, the delivery), in milestone order."""


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
