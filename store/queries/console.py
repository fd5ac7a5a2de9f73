"""The web console's SQL: its users (``console_users``), their sessions' epochs and
sign-outs, and the evidence of a tender shown beside a warning (bids, items, amendments, the
unit prices of the same category). Small functions that take the connection; the caller
holds the store and any transaction. Times are naive UTC."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import duckdb

from store.queries.audit import AUDIT_COLUMNS
from store.queries.procurement import ALERT_FIELDS

_AUDIT_SELECT = ", ".join(f'"{name}"' for name in AUDIT_COLUMNS)  # AT is a keyword in DuckDB

USER_FIELDS: tuple[str, ...] = ("role", "password_hash", "failed_signins", "locked_until")


def user_row(connection: duckdb.DuckDBPyConnection, user_key: str) -> tuple[Any, ...] | None:
    """``USER_FIELDS`` of one user, or None."""
    return connection.execute(
        f"SELECT {', '.join(USER_FIELDS)} FROM console_users WHERE user_key = ?", [user_key]
    ).fetchone()


def put_user(
    connection: duckdb.DuckDBPyConnection,
    *,
    user_key: str,
    user_name_enc: bytes,
    role: str,
    password_hash: str,
    now: datetime,
) -> None:
    """Create the user, or replace their role and password and unlock them."""
    connection.execute(
        "INSERT OR REPLACE INTO console_users (user_key, user_name_enc, role, password_hash, "
        "failed_signins, locked_until, password_set_at) VALUES (?, ?, ?, ?, 0, NULL, ?)",
        [user_key, user_name_enc, role, password_hash, now],
    )


def record_failed_signin(
    connection: duckdb.DuckDBPyConnection,
    user_key: str,
    *,
    failed_signins: int,
    locked_until: datetime | None,
) -> None:
    connection.execute(
        "UPDATE console_users SET failed_signins = ?, locked_until = ? WHERE user_key = ?",
        [failed_signins, locked_until, user_key],
    )


def record_signin(
    connection: duckdb.DuckDBPyConnection, user_key: str, *, new_hash: str | None
) -> None:
    """Reset the failure count; store ``new_hash`` when the old one needed rehashing."""
    if new_hash is None:
        connection.execute(
            "UPDATE console_users SET failed_signins = 0, locked_until = NULL WHERE user_key = ?",
            [user_key],
        )
    else:
        connection.execute(
            "UPDATE console_users SET failed_signins = 0, locked_until = NULL, "
            "password_hash = ? WHERE user_key = ?",
            [new_hash, user_key],
        )


def session_standing(
    connection: duckdb.DuckDBPyConnection, user_key: str, session_digest: str
) -> tuple[int, datetime | None, bool]:
    """What the store says of one console session: (the user's session epoch, 0 when never
    bumped; the latest revocation of the user's tokens or None; whether this session signed
    out)."""
    row = connection.execute(
        "SELECT (SELECT epoch FROM console_session_epochs WHERE user_key = ?), "
        "(SELECT max(revoked_at) FROM token_revocations WHERE subject_key = ?), "
        "EXISTS (SELECT 1 FROM console_signouts WHERE session_digest = ?)",
        [user_key, user_key, session_digest],
    ).fetchone()
    if row is None:
        return 0, None, False
    return int(row[0] or 0), row[1], bool(row[2])


def session_epoch(connection: duckdb.DuckDBPyConnection, user_key: str) -> int:
    """The user's console session epoch (0 when never bumped)."""
    row = connection.execute(
        "SELECT epoch FROM console_session_epochs WHERE user_key = ?", [user_key]
    ).fetchone()
    return int(row[0]) if row else 0


def bump_session_epoch(
    connection: duckdb.DuckDBPyConnection, user_key: str, *, reason: str, now: datetime
) -> int:
    """Raise the user's session epoch by one (every session they hold ends); the new epoch."""
    row = connection.execute(
        "INSERT INTO console_session_epochs (user_key, epoch, changed_at, reason) "
        "VALUES (?, 1, ?, ?) ON CONFLICT (user_key) DO UPDATE SET "
        "epoch = console_session_epochs.epoch + 1, changed_at = excluded.changed_at, "
        "reason = excluded.reason RETURNING epoch",
        [user_key, now, reason],
    ).fetchone()
    return int(row[0]) if row else 0


def record_signout(
    connection: duckdb.DuckDBPyConnection,
    session_digest: str,
    *,
    now: datetime,
    forget_before: datetime,
) -> None:
    """Mark one session as signed out; forget sign-outs from before ``forget_before`` (their
    sessions are past the absolute timeout anyway)."""
    connection.execute(
        "INSERT OR IGNORE INTO console_signouts (session_digest, signed_out_at) VALUES (?, ?)",
        [session_digest, now],
    )
    connection.execute("DELETE FROM console_signouts WHERE signed_out_at < ?", [forget_before])


def tender_bids(connection: duckdb.DuckDBPyConnection, ocid: str) -> list[tuple[Any, ...]]:
    """(bid_id, bid_date, status, value_amount, value_currency, tenderer_ids) of one
    process, lowest price first (bids without a price last)."""
    return connection.execute(
        "SELECT bid_id, bid_date, status, value_amount, value_currency, tenderer_ids "
        "FROM bids WHERE ocid = ? ORDER BY value_amount NULLS LAST, bid_id",
        [ocid],
    ).fetchall()


def tender_items(connection: duckdb.DuckDBPyConnection, ocid: str) -> list[tuple[Any, ...]]:
    """(item_id, description, classification_id, quantity, unit_name, unit_value_amount,
    unit_value_currency) of one process."""
    return connection.execute(
        "SELECT item_id, description, classification_id, quantity, unit_name, "
        "unit_value_amount, unit_value_currency FROM items WHERE ocid = ? ORDER BY item_id",
        [ocid],
    ).fetchall()


def tender_amendments(connection: duckdb.DuckDBPyConnection, ocid: str) -> list[tuple[Any, ...]]:
    """(scope, parent_id, amendment_id, amendment_date, rationale, description) of one
    process's tender and contract amendments, oldest first (undated last)."""
    return connection.execute(
        "SELECT scope, parent_id, amendment_id, amendment_date, rationale, description "
        "FROM amendments WHERE ocid = ? "
        "ORDER BY amendment_date NULLS LAST, scope DESC, parent_id, amendment_id",
        [ocid],
    ).fetchall()


def member_mandatory(
    connection: duckdb.DuckDBPyConnection,
    member_key: str,
    months: list[str],
    *,
    start: datetime,
    end: datetime,
) -> list[tuple[Any, ...]]:
    """(content_id, title, format, minutes, mandatory_month, completed_at, passed_at) of the
    items mandatory in ``months`` (``YYYY-MM``), with the member's first completion and first
    pass of each within its own month (UTC, as the branch assessment counts them; None when
    not). ``[start, end)`` bounds the statements read (UTC): it must cover ``months``."""
    return connection.execute(
        "SELECT c.content_id, c.title, c.format, c.minutes, c.mandatory_month, "
        "min(s.timestamp) FILTER (WHERE s.completion), "
        "min(s.timestamp) FILTER (WHERE s.verb = 'passed') "
        "FROM content c LEFT JOIN statements s ON s.content_id = c.content_id "
        "AND s.member_key = ? AND s.timestamp >= ? AND s.timestamp < ? "
        "AND strftime(s.timestamp, '%Y-%m') = c.mandatory_month "
        "WHERE list_contains(?, c.mandatory_month) "
        "GROUP BY c.content_id, c.title, c.format, c.minutes, c.mandatory_month "
        "ORDER BY c.mandatory_month DESC, c.content_id",
        [member_key, start, end, months],
    ).fetchall()


def category_unit_prices(
    connection: duckdb.DuckDBPyConnection,
    classification_id: str,
    *,
    before: datetime | None,
    limit: int,
) -> list[tuple[datetime, float, str]]:
    """(release date, unit price, ocid) of the category's items with a unit price, decided
    before ``before`` (all when None), the latest ``limit`` of them, oldest first."""
    rows = connection.execute(
        "SELECT p.release_date, i.unit_value_amount, i.ocid FROM items i "
        "JOIN processes p USING (ocid) WHERE i.classification_id = ? "
        "AND i.unit_value_amount IS NOT NULL AND p.release_date IS NOT NULL "
        "AND (CAST(? AS TIMESTAMP) IS NULL OR p.release_date < ?) "
        "ORDER BY p.release_date DESC LIMIT ?",
        [classification_id, before, before, limit],
    ).fetchall()
    return [(row[0], float(row[1]), str(row[2])) for row in reversed(rows)]


def set_user_role(connection: duckdb.DuckDBPyConnection, user_key: str, role: str) -> bool:
    """Change a user's role; False when there is no such user."""
    found = connection.execute(
        "UPDATE console_users SET role = ? WHERE user_key = ? RETURNING user_key", [role, user_key]
    ).fetchall()
    return bool(found)


def set_password_hash(
    connection: duckdb.DuckDBPyConnection, user_key: str, password_hash: str, now: datetime
) -> None:
    connection.execute(
        "UPDATE console_users SET password_hash = ?, password_set_at = ?, failed_signins = 0, "
        "locked_until = NULL WHERE user_key = ?",
        [password_hash, now, user_key],
    )


def user_roles(connection: duckdb.DuckDBPyConnection) -> list[tuple[bytes, str]]:
    """(user_name_enc, role) of every console user."""
    return [
        (row[0], str(row[1]))
        for row in connection.execute(
            "SELECT user_name_enc, role FROM console_users ORDER BY role, user_key"
        ).fetchall()
    ]


QUEUE_ORDERS = {
    "probability": "probability DESC, alert_id",
    "newest": "decision_date DESC NULLS LAST, alert_id",
    "oldest": "decision_date ASC NULLS LAST, alert_id",
    "anomaly": "unsupervised_score DESC NULLS LAST, alert_id",
}


def queue_clause(
    base_where: str, base_params: list[object], *, category: str | None, scheme: str | None
) -> tuple[str, list[object]]:
    """``base_where`` (an ``AlertFilter``'s clause) narrowed to tenders buying ``category``
    and to alerts whose reviews named ``scheme``."""
    clauses = [base_where.removeprefix(" WHERE ")] if base_where else []
    params = list(base_params)
    if category:
        clauses.append("ocid IN (SELECT ocid FROM items WHERE classification_id = ?)")
        params.append(category)
    if scheme:
        clauses.append("alert_id IN (SELECT alert_id FROM reviews WHERE scheme = ?)")
        params.append(scheme)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def queue_alert_rows(
    connection: duckdb.DuckDBPyConnection,
    where: str,
    params: list[object],
    *,
    order: str,
    limit: int,
    offset: int,
) -> tuple[list[tuple[Any, ...]], int]:
    """One page of alerts (``ALERT_FIELDS`` of ``store.queries.procurement``) in ``order`` (a
    ``QUEUE_ORDERS`` key), and how many match."""
    rows = connection.execute(
        f"SELECT {', '.join(ALERT_FIELDS)} FROM alerts{where} "
        f"ORDER BY {QUEUE_ORDERS[order]} LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ).fetchall()
    total = connection.execute(f"SELECT count(*) FROM alerts{where}", params).fetchone()
    return rows, int(total[0]) if total else 0


def latest_scored_at(connection: duckdb.DuckDBPyConnection) -> datetime | None:
    """When the latest warning was written (naive UTC), None without warnings."""
    row = connection.execute("SELECT max(scored_at) FROM alerts").fetchone()
    return row[0] if row else None


def alert_rows_scored_after(
    connection: duckdb.DuckDBPyConnection,
    where: str,
    params: list[object],
    *,
    after: datetime,
    limit: int,
) -> list[tuple[Any, ...]]:
    """Up to ``limit`` alerts matching ``where`` (``queue_clause``'s) written after ``after``
    (naive UTC), newest first, as ``ALERT_FIELDS``."""
    clause = f"{where} AND scored_at > ?" if where else " WHERE scored_at > ?"
    return connection.execute(
        f"SELECT {', '.join(ALERT_FIELDS)} FROM alerts{clause} "
        "ORDER BY scored_at DESC, probability DESC, alert_id LIMIT ?",
        [*params, after, limit],
    ).fetchall()


def alert_ids_of_tender(connection: duckdb.DuckDBPyConnection, ocid: str) -> list[str]:
    """The alerts of one process, latest scoring first."""
    return [
        str(row[0])
        for row in connection.execute(
            "SELECT alert_id FROM alerts WHERE ocid = ? ORDER BY scored_at DESC NULLS LAST", [ocid]
        ).fetchall()
    ]


def alert_categories(connection: duckdb.DuckDBPyConnection, limit: int) -> list[str]:
    """Categories bought by tenders with an alert, most alerts first."""
    return [
        str(row[0])
        for row in connection.execute(
            "SELECT i.classification_id FROM items i JOIN alerts a USING (ocid) "
            "WHERE i.classification_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT ?",
            [limit],
        ).fetchall()
    ]


def tenders_with_bids(connection: duckdb.DuckDBPyConnection, limit: int) -> list[tuple[Any, ...]]:
    """(ocid, valid bids, latest bid date) of the latest tenders with two or more valid bids."""
    return connection.execute(
        "SELECT ocid, count(*) AS bids, max(bid_date) AS latest FROM bids "
        "WHERE status = 'valid' AND value_amount IS NOT NULL GROUP BY ocid HAVING count(*) >= 2 "
        "ORDER BY latest DESC NULLS LAST, ocid LIMIT ?",
        [limit],
    ).fetchall()


def find_suppliers(
    connection: duckdb.DuckDBPyConnection, text: str, limit: int
) -> list[tuple[str, str | None]]:
    """(supplier_id, name) of suppliers whose id or name contains ``text`` (case-blind)."""
    pattern = f"%{text.lower()}%"
    return [
        (str(row[0]), row[1])
        for row in connection.execute(
            "SELECT supplier_id, name FROM suppliers WHERE lower(supplier_id) LIKE ? "
            "OR lower(name) LIKE ? ORDER BY supplier_id LIMIT ?",
            [pattern, pattern, limit],
        ).fetchall()
    ]


def supplier_events(
    connection: duckdb.DuckDBPyConnection, supplier_id: str, *, through: date
) -> list[tuple[Any, ...]]:
    """(event_date, event_type, severity, fine_cny, evidence_document) of a supplier's events
    dated up to ``through``, oldest first."""
    return connection.execute(
        "SELECT event_date, event_type, severity, fine_cny, evidence_document "
        "FROM supplier_events WHERE supplier_id = ? AND event_date <= ? "
        "ORDER BY event_date, event_id",
        [supplier_id, through],
    ).fetchall()


def audit_entries(
    connection: duckdb.DuckDBPyConnection,
    *,
    subject_key: str | None,
    role: str | None,
    action: str | None,
    resource_prefix: str | None,
    status_class: int | None,
    limit: int,
    offset: int,
) -> tuple[list[tuple[Any, ...]], int]:
    """A page of the audit log, newest first, narrowed by each filter given (``status_class``
    4 means 400-499), and the number of matching entries."""
    clauses: list[str] = []
    params: list[object] = []
    for clause, value in (
        ("subject_key = ?", subject_key),
        ("role = ?", role),
        ("action = ?", action),
        ("starts_with(resource, ?)", resource_prefix),
        ("status_code // 100 = ?", status_class),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    where = " WHERE " + " AND ".join(clauses) if clauses else ""
    rows = connection.execute(
        f"SELECT {_AUDIT_SELECT} FROM audit_log{where} ORDER BY seq DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ).fetchall()
    total = connection.execute(f"SELECT count(*) FROM audit_log{where}", params).fetchone()
    return rows, int(total[0]) if total else 0


def quarantine_reasons(
    connection: duckdb.DuckDBPyConnection, limit: int
) -> list[tuple[str, str, int]]:
    """(reader, reason, records) of quarantined records, most frequent first."""
    return [
        (str(row[0]), str(row[1]), int(row[2]))
        for row in connection.execute(
            "SELECT reader, coalesce(reason, ''), count(*) FROM quarantine GROUP BY 1, 2 "
            "ORDER BY 3 DESC, 1, 2 LIMIT ?",
            [limit],
        ).fetchall()
    ]
