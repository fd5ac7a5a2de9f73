"""Reads the web console needs beyond those the API routes share with it: the warning queue
with its category, scheme and sort, a tender's own warning, supplier search and events, the
audit log with filters, quarantine reasons and the gate verdict of loaded models. Each is a
small function over the store (the caller holds its lock); SQL stays in
``store.queries.console``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from core.security import PersonalData
from serving.api.schemas.procurement import AlertDetail, AlertQuery, AlertSummary
from serving.jobs import procurement_alerts
from serving.platform.audit import SUBJECT_NAMESPACE
from serving.platform.audit_chain import AuditEntry
from store.database import Store
from store.queries import console as queries
from store.queries.procurement import AlertFilter

QUEUE_ORDERS = tuple(queries.QUEUE_ORDERS)
SEARCH_LIMIT = 30


@dataclass(frozen=True)
class QueuePage:
    alerts: list[AlertSummary]
    total: int


def queue_page(
    store: Store,
    query: AlertQuery,
    *,
    category: str | None = None,
    scheme: str | None = None,
    order: str = "probability",
) -> QueuePage:
    """The queue as ``GET /v1/procurement/alerts`` filters it (``query``), further narrowed to
    tenders buying ``category`` and to warnings a review named ``scheme`` for, in ``order``
    (a ``QUEUE_ORDERS`` name)."""
    if order not in queries.QUEUE_ORDERS:
        raise ValueError(f"unknown order {order!r}")
    base: AlertFilter = procurement_alerts.alert_filter(query)
    where, params = queries.queue_clause(*base.where(), category=category, scheme=scheme)
    rows, total = queries.queue_alert_rows(
        store.connection, where, params, order=order, limit=query.limit, offset=query.offset
    )
    summaries = [AlertSummary(**procurement_alerts.summary_fields(row)) for row in rows]
    return QueuePage(summaries, total)


@dataclass(frozen=True)
class NewAlerts:
    """Warnings written after a cursor, newest first, and the cursor to ask with next (naive
    UTC; the latest ``scored_at`` seen, or the one asked with when there is none)."""

    alerts: list[AlertSummary]
    cursor: datetime | None


def queue_cursor(store: Store) -> datetime | None:
    """The cursor of a queue page opened now: the latest warning's ``scored_at``."""
    return queries.latest_scored_at(store.connection)


def queue_since(
    store: Store,
    query: AlertQuery,
    *,
    after: datetime | None,
    category: str | None = None,
    scheme: str | None = None,
    limit: int = 50,
) -> NewAlerts:
    """The warnings matching the queue's filters written after ``after`` (every one when
    None: the queue had none when its page was opened)."""
    base: AlertFilter = procurement_alerts.alert_filter(query)
    where, params = queries.queue_clause(*base.where(), category=category, scheme=scheme)
    rows = queries.alert_rows_scored_after(
        store.connection, where, params, after=after or datetime.min, limit=limit
    )
    summaries = [AlertSummary(**procurement_alerts.summary_fields(row)) for row in rows]
    latest = queries.latest_scored_at(store.connection)
    return NewAlerts(summaries, latest if latest is not None else after)


def queue_categories(store: Store, limit: int = 50) -> list[str]:
    return queries.alert_categories(store.connection, limit)


def tender_alert(store: Store, personal: PersonalData, ocid: str) -> AlertDetail | None:
    """The latest warning written for process ``ocid`` (None: the scorer wrote none)."""
    for alert_id in queries.alert_ids_of_tender(store.connection, ocid):
        return procurement_alerts.get_alert(store, personal, alert_id, reveal_comments=False)
    return None


def recent_tenders(store: Store, limit: int = 20) -> list[tuple[str, int, Any]]:
    """(ocid, valid bids, latest bid date) of recent tenders a manager could rank."""
    return [
        (str(o), int(n), latest)
        for o, n, latest in queries.tenders_with_bids(store.connection, limit)
    ]


def search_suppliers(store: Store, text: str) -> list[tuple[str, str | None]]:
    return (
        queries.find_suppliers(store.connection, text.strip(), SEARCH_LIMIT) if text.strip() else []
    )


@dataclass(frozen=True)
class SupplierEvent:
    event_date: date
    event_type: str
    severity: str | None
    fine_cny: float | None
    evidence: str | None


def supplier_events(store: Store, supplier_id: str, through: date) -> list[SupplierEvent]:
    return [
        SupplierEvent(event_date, str(kind), severity, fine, evidence or None)
        for event_date, kind, severity, fine, evidence in queries.supplier_events(
            store.connection, supplier_id, through=through
        )
    ]


@dataclass(frozen=True)
class AuditFilter:
    """Narrowing of the audit log; ``subject`` is a user name (pseudonymised here, as the
    log holds it)."""

    subject: str | None = None
    role: str | None = None
    action: str | None = None
    resource_prefix: str | None = None
    status_class: int | None = None


def audit_page(
    store: Store, personal: PersonalData, selection: AuditFilter, *, limit: int, offset: int
) -> tuple[list[AuditEntry], int]:
    """A page of the audit log, newest first, and how many entries match."""
    subject_key = (
        None
        if selection.subject is None
        else personal.pseudonymiser.pseudonym(SUBJECT_NAMESPACE, selection.subject.strip())
    )
    rows, total = queries.audit_entries(
        store.connection,
        subject_key=subject_key,
        role=selection.role,
        action=selection.action,
        resource_prefix=selection.resource_prefix,
        status_class=selection.status_class,
        limit=limit,
        offset=offset,
    )
    return [AuditEntry(*row) for row in rows], total


def quarantine_reasons(store: Store, limit: int = 50) -> list[tuple[str, str, int]]:
    return queries.quarantine_reasons(store.connection, limit)


def console_users(store: Store, personal: PersonalData) -> list[tuple[str, str]]:
    """(user name, role) of every console user, decrypted for the admin's page."""
    return [
        (str(personal.cipher.decrypt(name_enc, column="user_name_enc")), role)
        for name_enc, role in queries.user_roles(store.connection)
    ]


def gate_verdict(tracking_uri: str, name: str, version: str | None) -> dict[str, str]:
    """The champion gate's tags on a registered version (``gate.decision``, ``gate.reason``,
    ``gate.champion_version``); empty when the registry cannot say."""
    if version is None:
        return {}
    try:
        from mlflow.tracking import MlflowClient

        tags = MlflowClient(tracking_uri=tracking_uri).get_model_version(name, version).tags
    except Exception:  # a registry that cannot answer leaves the page without gate results
        return {}
    return {str(k): str(v) for k, v in (tags or {}).items() if str(k).startswith("gate.")}
