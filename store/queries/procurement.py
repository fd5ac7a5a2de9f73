"""The procurement service's SQL over ``alerts`` and ``reviews``: small functions that take
the connection (``Store.connection``); the caller holds the store and any transaction.

Times are naive UTC, as the store holds them. Rows come back as tuples in the order of
``ALERT_FIELDS`` and ``REVIEW_FIELDS``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

ALERT_FIELDS: tuple[str, ...] = (
    "alert_id",
    "ocid",
    "decision_date",
    "buyer_id",
    "supplier_ids",
    "probability",
    "unsupervised_score",
    "warning_level",
    "red_flags",
    "reasons",
    "model_name",
    "model_version",
    "scored_at",
    "status",
)
REVIEW_FIELDS: tuple[str, ...] = (
    "review_id",
    "reviewer_key",
    "verdict",
    "scheme",
    "comment_enc",
    "reviewed_at",
)
_ALERT_COLUMNS = ", ".join(ALERT_FIELDS)
_REVIEW_COLUMNS = ", ".join(REVIEW_FIELDS)


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts to list; every field set narrows the list.

    ``decided_from`` (inclusive) and ``decided_before`` (exclusive) bound ``decision_date``.
    """

    levels: Sequence[str] = ()
    buyer_id: str | None = None
    supplier_id: str | None = None
    decided_from: datetime | None = None
    decided_before: datetime | None = None
    status: str | None = None
    model_version: str | None = None

    def where(self) -> tuple[str, list[object]]:
        """The ``WHERE`` clause (empty when nothing narrows) and its parameters."""
        clauses: list[str] = []
        params: list[object] = []
        if self.levels:
            clauses.append(f"warning_level IN ({', '.join('?' * len(self.levels))})")
            params += list(self.levels)
        for clause, value in (
            ("buyer_id = ?", self.buyer_id),
            ("list_contains(supplier_ids, ?)", self.supplier_id),
            ("decision_date >= ?", self.decided_from),
            ("decision_date < ?", self.decided_before),
            ("status = ?", self.status),
            ("model_version = ?", self.model_version),
        ):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def count_alerts(connection: duckdb.DuckDBPyConnection, selection: AlertFilter) -> int:
    where, params = selection.where()
    row = connection.execute(f"SELECT count(*) FROM alerts{where}", params).fetchone()
    return int(row[0]) if row else 0


def alert_page(
    connection: duckdb.DuckDBPyConnection, selection: AlertFilter, *, limit: int, offset: int
) -> list[tuple[Any, ...]]:
    """One page of the selected alerts, highest probability first (ties by id)."""
    where, params = selection.where()
    return connection.execute(
        f"SELECT {_ALERT_COLUMNS} FROM alerts{where} "
        "ORDER BY probability DESC, alert_id LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ).fetchall()


def alert_row(connection: duckdb.DuckDBPyConnection, alert_id: str) -> tuple[Any, ...] | None:
    return connection.execute(
        f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE alert_id = ?", [alert_id]
    ).fetchone()


def alert_reviews(connection: duckdb.DuckDBPyConnection, alert_id: str) -> list[tuple[Any, ...]]:
    """The reviews of one alert, oldest first."""
    return connection.execute(
        f"SELECT {_REVIEW_COLUMNS} FROM reviews WHERE alert_id = ? ORDER BY reviewed_at, review_id",
        [alert_id],
    ).fetchall()


def alert_ocid(connection: duckdb.DuckDBPyConnection, alert_id: str) -> str | None:
    row = connection.execute("SELECT ocid FROM alerts WHERE alert_id = ?", [alert_id]).fetchone()
    return None if row is None else str(row[0])


def set_alert_status(connection: duckdb.DuckDBPyConnection, alert_id: str, status: str) -> None:
    connection.execute("UPDATE alerts SET status = ? WHERE alert_id = ?", [status, alert_id])


def alert_statuses(
    connection: duckdb.DuckDBPyConnection, alert_ids: Sequence[str]
) -> dict[str, str]:
    """Status of each stored alert among ``alert_ids`` (``open`` when unset)."""
    if not alert_ids:
        return {}
    rows = connection.execute(
        "SELECT alert_id, status FROM alerts WHERE alert_id IN (SELECT unnest(?::VARCHAR[]))",
        [list(alert_ids)],
    ).fetchall()
    return {str(alert): str(status or "open") for alert, status in rows}


def refresh_open_alerts(
    connection: duckdb.DuckDBPyConnection, rows: pd.DataFrame, columns: Sequence[str]
) -> None:
    """Rewrite ``columns`` of each row's alert (by ``alert_id``) if it is still open."""
    assignments = ", ".join(f'"{name}" = ?' for name in columns)
    for values in rows.to_dict("records"):
        connection.execute(
            f"UPDATE alerts SET {assignments} WHERE alert_id = ? AND status = 'open'",
            [*(values[name] for name in columns), values["alert_id"]],
        )


def delete_open_alerts(connection: duckdb.DuckDBPyConnection, alert_ids: Sequence[str]) -> None:
    """Delete those of ``alert_ids`` that are still open (a reviewed alert stays)."""
    connection.execute(
        "DELETE FROM alerts WHERE alert_id IN (SELECT unnest(?::VARCHAR[])) AND status = 'open'",
        [list(alert_ids)],
    )


def ocids_with_open_alerts_of_other_models(
    connection: duckdb.DuckDBPyConnection, model_name: str, model_version: str
) -> list[str]:
    """The processes with an open alert of any model version but this one, sorted."""
    rows = connection.execute(
        "SELECT DISTINCT ocid FROM alerts WHERE coalesce(status, 'open') = 'open' "
        "AND NOT (model_name = ? AND model_version = ?) ORDER BY ocid",
        [model_name, model_version],
    ).fetchall()
    return [str(row[0]) for row in rows]
