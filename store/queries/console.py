"""The web console's SQL: its users (``console_users``) and the evidence of a tender shown
beside a warning (bids, items, the unit prices of the same category). Small functions that
take the connection; the caller holds the store and any transaction. Times are naive UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb

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
