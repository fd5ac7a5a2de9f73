"""The ``audit_log`` table: appended to, never updated or deleted.

Rows are tuples in ``AUDIT_COLUMNS`` order; the hash chain over them is
``serving.platform.audit_chain``'s.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import pyarrow as pa

AUDIT_COLUMNS = (
    "seq",
    "at",
    "subject_key",
    "role",
    "action",
    "resource",
    "status_code",
    "request_id",
    "prev_hash",
    "entry_hash",
)
_COLUMNS = ", ".join(f'"{name}"' for name in AUDIT_COLUMNS)  # AT is a keyword in DuckDB
_INSERT = f"INSERT INTO audit_log ({_COLUMNS}) VALUES ({', '.join('?' * len(AUDIT_COLUMNS))})"


def insert_entries(connection: duckdb.DuckDBPyConnection, rows: Sequence[Sequence[Any]]) -> None:
    """Insert rows in one statement (one commit). A batch goes in as one Arrow table:
    ``executemany`` binds row by row and a pandas frame of strings is read under the GIL,
    Arrow is not."""
    if len(rows) == 1:
        connection.execute(_INSERT, list(rows[0]))
        return
    batch = pa.table({name: [row[i] for row in rows] for i, name in enumerate(AUDIT_COLUMNS)})
    connection.register("audit_batch", batch)
    try:
        connection.execute(f"INSERT INTO audit_log ({_COLUMNS}) SELECT {_COLUMNS} FROM audit_batch")
    finally:
        connection.unregister("audit_batch")


def entry_hash_at(connection: duckdb.DuckDBPyConnection, seq: int) -> str | None:
    """The stored hash of entry ``seq``; None when there is no such entry."""
    row = connection.execute("SELECT entry_hash FROM audit_log WHERE seq = ?", [seq]).fetchone()
    return str(row[0]) if row else None


def last_entry(connection: duckdb.DuckDBPyConnection) -> tuple[int, str] | None:
    """(seq, entry hash) of the last entry; None when the log is empty. ``max(seq)`` comes
    from the column's statistics, where ``ORDER BY seq DESC LIMIT 1`` sorts the table."""
    last = connection.execute(
        "SELECT seq, entry_hash FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)"
    ).fetchone()
    return (int(last[0]), str(last[1])) if last else None


def entry_hashes_between(
    connection: duckdb.DuckDBPyConnection, first: int, last: int
) -> dict[int, str]:
    """Stored hash by seq for ``first <= seq <= last``."""
    rows = connection.execute(
        "SELECT seq, entry_hash FROM audit_log WHERE seq BETWEEN ? AND ?", [first, last]
    ).fetchall()
    return {int(seq): str(entry_hash) for seq, entry_hash in rows}


def entries_after(
    connection: duckdb.DuckDBPyConnection, seq: int, *, batch: int
) -> Iterator[list[tuple[Any, ...]]]:
    """The rows after ``seq`` in seq order, ``batch`` rows at a time."""
    cursor = connection.execute(
        f"SELECT {_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq", [seq]
    )
    while rows := cursor.fetchmany(batch):
        yield rows


def entry_page(
    connection: duckdb.DuckDBPyConnection, *, limit: int, offset: int
) -> tuple[list[tuple[Any, ...]], int]:
    """One page of rows in writing order, and how many entries the log holds."""
    rows = connection.execute(
        f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq LIMIT ? OFFSET ?", [limit, offset]
    ).fetchall()
    total = connection.execute("SELECT count(*) FROM audit_log").fetchone()
    return rows, int(total[0]) if total else 0
