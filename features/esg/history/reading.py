"""Reading the supplier register, certifications, events and deliveries from the store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from features.esg.history.records import (
    Deliveries,
    Delivery,
    _date,
    _delivery,
    _rows,
)
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


SUPPLIER_ID_TABLES = ("suppliers", "supplier_certifications", "supplier_events")
"""The tables whose rows make a supplier's record (deliveries alone make none)."""


def read_supplier_frames(
    store: StoreReader, supplier_ids: Sequence[str] | None = None
) -> dict[str, pd.DataFrame]:
    """The register, certifications, events and per-process delivery rows of ``store``;
    with ``supplier_ids``, only those suppliers' rows and the delivery rows of the awards that
    name one of them (such a row may name other suppliers too: it is read whole). The records
    of ``supplier_ids`` built from these rows equal those built from the whole store: a
    record reads only its own rows and the deliveries naming it."""
    parameters: list[object] | None = None
    if supplier_ids is None:
        where, on_awards = "", ""
    else:
        where = " WHERE supplier_id IN (SELECT unnest(?::VARCHAR[]))"
        on_awards = " AND list_has_any(a.supplier_ids, ?::VARCHAR[])"
        parameters = [sorted({str(sid) for sid in supplier_ids})]
    return {
        "suppliers": store.query(
            f"SELECT {', '.join(_REGISTER_COLUMNS)} FROM suppliers{where}", parameters
        ),
        "supplier_certifications": store.query(
            f"SELECT {', '.join(_CERT_COLUMNS)} FROM supplier_certifications{where}", parameters
        ),
        "supplier_events": store.query(
            f"SELECT {', '.join(_EVENT_COLUMNS)} FROM supplier_events{where}", parameters
        ),
        "deliveries": store.query(_DELIVERY_QUERY + on_awards, parameters),
    }


def known_supplier_ids(store: StoreReader) -> list[str]:
    """Every supplier id with a row in ``SUPPLIER_ID_TABLES``, sorted: a superset of the
    suppliers a ``SupplierHistory`` of ``store`` holds (an id whose only rows are undated
    events gets no record)."""
    union = " UNION ".join(f"SELECT supplier_id FROM {table}" for table in SUPPLIER_ID_TABLES)
    ids = store.query(f"SELECT DISTINCT supplier_id FROM ({union}) WHERE supplier_id IS NOT NULL")
    return sorted(ids["supplier_id"].astype(str))


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
