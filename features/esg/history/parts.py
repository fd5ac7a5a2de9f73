"""The keyed store rows behind the supplier records, and their copy-on-write update."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from features.esg.carbon import carbon_intensity
from features.esg.history.reading import (
    _CERT_COLUMNS,
    _EVENT_COLUMNS,
    _REGISTER_COLUMNS,
    process_deliveries,
)
from features.esg.history.records import (
    Certification,
    Deliveries,
    Delivery,
    Event,
    SupplierRecord,
    _date,
    _number,
    _rows,
    _text,
)


@dataclass(frozen=True)
class RegisterEntry:
    categories: tuple[str, ...] = ()
    tax_credit_grade: str | None = None
    reported_emission_intensity: float | None = None
    registered_on: date | None = None


_NO_ENTRY = RegisterEntry()


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
