"""``SupplierHistory``: the point-in-time index of what the store knows about each supplier."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from features.esg.carbon import carbon_intensity, load_category_factors
from features.esg.history.parts import (
    SupplierParts,
    _PartsChanges,
    _record,
)
from features.esg.history.reading import (
    read_supplier_frames,
)
from features.esg.history.records import (
    SupplierRecord,
)
from store.database import StoreReader

STALE_AFTER_DAYS = 30
"""A screen more than this many days after ``data_through`` is on stale data."""


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
