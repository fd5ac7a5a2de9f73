"""The ``token_revocations`` table: subjects (as keyed pseudonyms) whose tokens are void."""

from __future__ import annotations

from datetime import datetime

import duckdb

REVOCATION_COLUMNS = ("subject_key", "revoked_at", "revoked_by_key", "reason")


def latest_per_subject(connection: duckdb.DuckDBPyConnection) -> dict[str, datetime]:
    """Each revoked subject key's latest revocation moment (UTC, naive)."""
    rows = connection.execute(
        "SELECT subject_key, max(revoked_at) FROM token_revocations GROUP BY subject_key"
    ).fetchall()
    return {str(key): moment for key, moment in rows}


def insert_revocation(
    connection: duckdb.DuckDBPyConnection,
    *,
    subject_key: str,
    revoked_at: datetime,
    revoked_by_key: str,
    reason: str,
) -> None:
    connection.execute(
        "INSERT INTO token_revocations (subject_key, revoked_at, revoked_by_key, reason) "
        "VALUES (?, ?, ?, ?)",
        [subject_key, revoked_at, revoked_by_key, reason],
    )


def revocation_page(
    connection: duckdb.DuckDBPyConnection, *, limit: int, offset: int
) -> tuple[list[tuple[str, datetime, str, str]], int]:
    """A page of rows in ``REVOCATION_COLUMNS`` order, newest first, and how many there are."""
    rows = connection.execute(
        f"SELECT {', '.join(REVOCATION_COLUMNS)} FROM token_revocations "
        "ORDER BY revoked_at DESC, subject_key LIMIT ? OFFSET ?",
        [limit, offset],
    ).fetchall()
    total = connection.execute("SELECT count(*) FROM token_revocations").fetchone()
    return rows, int(total[0]) if total else 0
