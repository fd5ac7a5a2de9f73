"""The problem-feedback tables: reports, their state changes and reads of a reporter's identity.

Protection. ``HANDLER_COLUMNS`` is what any handler query returns: never ``reporter_key``,
``reporter_enc`` or ``branch_key``. The reporter's own reports are found by ``reporter_key``
(``reports_of_reporter``) and nothing else selects by it; the encrypted identity leaves the
table only through ``reporter_identity``, which the service calls after recording the access.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from store.database import StoreReader
from store.schema import FEEDBACK_EVENTS, FEEDBACK_IDENTITY_ACCESS, FEEDBACK_REPORTS

HANDLER_COLUMNS = (
    "report_id",
    "found_at",
    "submitted_at",
    "anonymous",
    "text_enc",
    "kind",
    "kind_probability",
    "kind_source",
    "handler_kind",
    "ocid",
    "supplier_id",
    "category",
    "route_role",
    "state",
    "due_at",
    "resolved_at",
    "reviewed_at",
)
_SELECT = ", ".join(HANDLER_COLUMNS)
LINKED_REPORTS_SQL = (
    "SELECT report_id, submitted_at, coalesce(handler_kind, kind) AS kind, ocid, supplier_id "
    "FROM feedback_reports WHERE ocid IS NOT NULL OR supplier_id IS NOT NULL "
    "ORDER BY submitted_at, report_id"
)
# Columns a state change may set, besides ``state`` itself.
_STATE_TIMES = frozenset({"resolved_at", "reviewed_at"})


def _insert(
    connection: duckdb.DuckDBPyConnection, table: str, names: list[str], row: Mapping[str, Any]
) -> None:
    connection.execute(
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
        [row.get(name) for name in names],
    )


def insert_report(connection: duckdb.DuckDBPyConnection, row: Mapping[str, Any]) -> None:
    """One report; columns absent from ``row`` are NULL."""
    _insert(connection, "feedback_reports", FEEDBACK_REPORTS.column_names, row)


def insert_event(connection: duckdb.DuckDBPyConnection, row: Mapping[str, Any]) -> None:
    _insert(connection, "feedback_events", FEEDBACK_EVENTS.column_names, row)


def insert_identity_access(connection: duckdb.DuckDBPyConnection, row: Mapping[str, Any]) -> None:
    _insert(connection, "feedback_identity_access", FEEDBACK_IDENTITY_ACCESS.column_names, row)


def _rows(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return [dict(zip(HANDLER_COLUMNS, row, strict=True)) for row in cursor.fetchall()]


def report_row(connection: duckdb.DuckDBPyConnection, report_id: str) -> dict[str, Any] | None:
    """The report's ``HANDLER_COLUMNS`` (text still encrypted); ``None`` when there is none."""
    rows = _rows(
        connection.execute(
            f"SELECT {_SELECT} FROM feedback_reports WHERE report_id = ?", [report_id]
        )
    )
    return rows[0] if rows else None


def reporter_key_of(connection: duckdb.DuckDBPyConnection, report_id: str) -> str | None:
    """Only to compare with the caller's own key; never returned to anyone."""
    row = connection.execute(
        "SELECT reporter_key FROM feedback_reports WHERE report_id = ?", [report_id]
    ).fetchone()
    return None if row is None else row[0]


def reports_of_reporter(
    connection: duckdb.DuckDBPyConnection, reporter_key: str
) -> list[dict[str, Any]]:
    """The caller's own reports, newest first."""
    return _rows(
        connection.execute(
            f"SELECT {_SELECT} FROM feedback_reports WHERE reporter_key = ? "
            "ORDER BY submitted_at DESC, report_id",
            [reporter_key],
        )
    )


def reports_for_role(
    connection: duckdb.DuckDBPyConnection,
    role: str,
    *,
    state: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """The reports routed to ``role`` (optionally in one state), oldest due first, and their
    total count."""
    where, parameters = "route_role = ?", [role]
    if state is not None:
        where, parameters = f"{where} AND state = ?", [*parameters, state]
    total = connection.execute(
        f"SELECT count(*) FROM feedback_reports WHERE {where}", parameters
    ).fetchone()
    rows = _rows(
        connection.execute(
            f"SELECT {_SELECT} FROM feedback_reports WHERE {where} "
            "ORDER BY due_at, report_id LIMIT ? OFFSET ?",
            [*parameters, limit, offset],
        )
    )
    return rows, int(total[0]) if total else 0


def set_state(
    connection: duckdb.DuckDBPyConnection,
    report_id: str,
    state: str,
    *,
    times: Mapping[str, datetime | None],
    handler_kind: str | None,
) -> None:
    """Move the report to ``state``, set the given state times (``resolved_at``,
    ``reviewed_at``; a ``None`` clears one) and, when given, the handler's kind."""
    unknown = set(times) - _STATE_TIMES
    if unknown:
        raise ValueError(f"not a state time: {sorted(unknown)}")
    assignments = ["state = ?", *(f"{name} = ?" for name in times)]
    parameters: list[Any] = [state, *times.values()]
    if handler_kind is not None:
        assignments.append("handler_kind = ?")
        parameters.append(handler_kind)
    connection.execute(
        f"UPDATE feedback_reports SET {', '.join(assignments)} WHERE report_id = ?",
        [*parameters, report_id],
    )


def next_event_seq(connection: duckdb.DuckDBPyConnection, report_id: str) -> int:
    row = connection.execute(
        "SELECT coalesce(max(seq), 0) + 1 FROM feedback_events WHERE report_id = ?", [report_id]
    ).fetchone()
    return int(row[0]) if row else 1


def events_of(connection: duckdb.DuckDBPyConnection, report_id: str) -> list[dict[str, Any]]:
    """The report's state changes in order: seq, from_state, to_state, moved_at, actor_role
    (who moved it is kept as a pseudonym and not returned)."""
    names = ("seq", "from_state", "to_state", "moved_at", "actor_role")
    rows = connection.execute(
        f"SELECT {', '.join(names)} FROM feedback_events WHERE report_id = ? ORDER BY seq",
        [report_id],
    ).fetchall()
    return [dict(zip(names, row, strict=True)) for row in rows]


def reporter_identity(
    connection: duckdb.DuckDBPyConnection, report_id: str
) -> tuple[bool, bytes | None] | None:
    """(anonymous, encrypted employee number) of the report; ``None`` when there is none.
    Call only after ``insert_identity_access`` recorded why."""
    row = connection.execute(
        "SELECT anonymous, reporter_enc FROM feedback_reports WHERE report_id = ?", [report_id]
    ).fetchone()
    return None if row is None else (bool(row[0]), row[1])


def identity_accesses(connection: duckdb.DuckDBPyConnection, report_id: str) -> pd.DataFrame:
    """Every recorded read of the report's identity (reason still encrypted)."""
    return connection.execute(
        "SELECT access_id, report_id, accessed_at, actor_key, actor_role, reason_enc, granted "
        "FROM feedback_identity_access WHERE report_id = ? ORDER BY accessed_at, access_id",
        [report_id],
    ).df()


def linked_reports(connection: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The reports linked to a process or a supplier, for the risk features: report_id,
    submitted_at, kind (the handler's when confirmed, else the classified one), ocid,
    supplier_id. No reporter column: features never see who reported."""
    return connection.execute(LINKED_REPORTS_SQL).df()


def linked_report(connection: duckdb.DuckDBPyConnection, report_id: str) -> pd.DataFrame:
    """``linked_reports``' row of one report; no row when it links to no process or supplier."""
    return connection.execute(
        f"SELECT * FROM ({LINKED_REPORTS_SQL}) WHERE report_id = ?", [report_id]
    ).df()


def read_linked_reports(store: StoreReader) -> pd.DataFrame:
    """``linked_reports`` through any reader (a store or a snapshot)."""
    return store.query(LINKED_REPORTS_SQL)


def labelled_reports(connection: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Reports whose kind a handler confirmed: report_id, submitted_at, text_enc, handler_kind
    (the classifier's training data; the text is decrypted by the caller)."""
    return connection.execute(
        "SELECT report_id, submitted_at, text_enc, handler_kind FROM feedback_reports "
        "WHERE handler_kind IS NOT NULL ORDER BY submitted_at, report_id"
    ).df()


def resolution_hours_by_branch_month(store: StoreReader) -> pd.DataFrame:
    """Median hours from submission to first resolution per reporter branch and month of
    submission: columns ``branch_key``, ``month`` (``YYYY-MM``), ``median_resolution_hours``,
    ``resolved_reports``. Only resolved reports with a branch count (anonymous ones carry
    none); suppressing small groups is the assessment's job, the count is here for it."""
    return store.query(
        "SELECT branch_key, strftime(submitted_at, '%Y-%m') AS month, "
        "median(date_diff('second', submitted_at, resolved_at) / 3600.0) "
        "AS median_resolution_hours, count(*) AS resolved_reports "
        "FROM feedback_reports WHERE branch_key IS NOT NULL AND resolved_at IS NOT NULL "
        "GROUP BY ALL ORDER BY branch_key, month"
    )


def member_branch_key(connection: duckdb.DuckDBPyConnection, member_key: str) -> str | None:
    """The member's branch pseudonym (``members.branch_key``), ``None`` when not a member."""
    row = connection.execute(
        "SELECT branch_key FROM members WHERE member_key = ?", [member_key]
    ).fetchone()
    return None if row is None else row[0]


def reports_linked_to(
    connection: duckdb.DuckDBPyConnection,
    ocid: str,
    supplier_ids: list[str],
    *,
    before: datetime,
) -> pd.DataFrame:
    """``linked_reports``' columns for the reports on ``ocid`` or any of ``supplier_ids``
    submitted before ``before`` (a warning's reasons, read when it is opened)."""
    return connection.execute(
        "SELECT report_id, submitted_at, coalesce(handler_kind, kind) AS kind, ocid, supplier_id "
        "FROM feedback_reports WHERE submitted_at < ? "
        "AND (ocid = ? OR list_contains(?, supplier_id)) ORDER BY submitted_at, report_id",
        [before, ocid, supplier_ids],
    ).df()
