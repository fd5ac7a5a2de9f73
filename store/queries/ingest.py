"""What ingestion writes: a chunk's rows inserted when their key is new, the inserted rows
returned by the same statement, and the processes an updated release replaces."""

from __future__ import annotations

import duckdb
import pandas as pd
import pyarrow as pa

from store.database import StoreError, declared_arrow_table
from store.schema import TABLES, insert_new_sql


def insert_new_counted(
    connection: duckdb.DuckDBPyConnection, table_name: str, frame: pd.DataFrame
) -> int:
    """``insert_new_returning``'s insert, the same rows stored, returning only how many: for
    a caller that does not look at the rows (the command line), which spares turning every
    inserted row back into Python objects."""
    if frame.empty:
        return 0
    sql, view, incoming = _insert_new(table_name, frame)
    connection.register(view, incoming)
    try:
        row = connection.execute(sql).fetchone()
    finally:
        connection.unregister(view)
    return int(row[0]) if row else 0


def _insert_new(table_name: str, frame: pd.DataFrame) -> tuple[str, str, pa.Table]:
    """(the insert of ``frame``'s rows new to ``table_name``, the view it reads, the rows as
    an Arrow table typed by the schema to register as that view)."""
    table = TABLES[table_name]
    unknown = set(frame.columns) - set(table.column_names)
    if unknown:
        raise StoreError(f"{table_name}: unknown columns {sorted(unknown)}")
    first = frame.drop_duplicates(subset=list(table.key), keep="first")
    columns = [c for c in table.columns if c.name in first.columns]
    select = ", ".join(f'CAST("{c.name}" AS {c.sql_type}) AS "{c.name}"' for c in columns)
    names = ", ".join(f'"{c.name}"' for c in columns)
    view = f"_incoming_{table_name}"
    return insert_new_sql(table, names, select, view), view, declared_arrow_table(first, columns)


def insert_new_returning(
    connection: duckdb.DuckDBPyConnection, table_name: str, frame: pd.DataFrame
) -> pd.DataFrame:
    """Insert the rows of ``frame`` whose key (``store.schema``) is not stored, the first of
    equal keys in ``frame`` kept, and return the rows inserted as the store now holds them:
    every column of the table (lineage included) with the store's types, exactly what a
    ``SELECT`` of those rows would give, in ``frame``'s order. One statement does both
    (``store.schema.insert_new_sql ... RETURNING``: ``OR IGNORE`` on a primary key, an
    anti-join on a table without a key index), so no count or read-back is needed.

    Values are cast to the declared SQL types (``declared_arrow_table``): a bad one fails
    here, loudly. ``frame`` may hold only the table's columns."""
    if frame.empty:
        return pd.DataFrame(columns=list(TABLES[table_name].column_names))
    sql, view, incoming = _insert_new(table_name, frame)
    connection.register(view, incoming)
    try:
        return connection.execute(f"{sql} RETURNING *").df()
    finally:
        connection.unregister(view)


def replace_updated_processes(
    connection: duckdb.DuckDBPyConnection, latest: pd.DataFrame, tables: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    """``latest``: (ocid, release_date) per incoming process, one row each. Returns (the
    stored processes whose incoming release is dated later, the stored rows in every table of
    ``tables`` now deleted; the stored processes whose incoming release is not later). A
    stored NULL date counts as earlier; an incoming NULL date is never later."""
    view = "_incoming_release_dates"
    connection.register(view, latest)
    try:
        rows = connection.execute(
            "SELECT stored.ocid, incoming.release_date IS NOT NULL AND "
            "(stored.release_date IS NULL OR "
            "CAST(incoming.release_date AS TIMESTAMP) > stored.release_date) AS later "
            f'FROM processes AS stored JOIN "{view}" AS incoming ON stored.ocid = incoming.ocid '
            "ORDER BY 1"
        ).fetchall()
    finally:
        connection.unregister(view)
    replaced = [str(ocid) for ocid, later in rows if later]
    if replaced:
        for table_name in tables:
            connection.execute(
                f'DELETE FROM "{table_name}" WHERE ocid IN (SELECT unnest(?::VARCHAR[]))',
                [replaced],
            )
    return replaced, [str(ocid) for ocid, later in rows if not later]


# DuckDB checkpoints on its own when the write-ahead log passes ``checkpoint_threshold`` (16
# MiB by default), and a checkpoint writes every primary-key index of a changed table whole
# (duckdb/duckdb#24848). Committed chunk by chunk at that fixed threshold, a file of N rows
# paid N / 16 MiB checkpoints of an index growing with N: quadratic in the data. Paced to a
# share of the database, the checkpoints come in geometric steps and together write each
# index about (1 + CHECKPOINT_GROWTH) / CHECKPOINT_GROWTH times: linear. The price is the
# log (and the unwritten rows DuckDB holds) growing to that share of the database.
CHECKPOINT_GROWTH = 0.25
MIN_CHECKPOINT_BYTES = 16 << 20  # DuckDB's default threshold: small stores as before


def pace_checkpoints(connection: duckdb.DuckDBPyConnection) -> int:
    """Set the automatic checkpoint threshold (log bytes) to ``CHECKPOINT_GROWTH`` times the
    bytes the current database uses, at least ``MIN_CHECKPOINT_BYTES``; returns it. A
    database-wide setting that only grows with the database, so concurrent runs agree."""
    row = connection.execute(
        "SELECT used_blocks * block_size FROM pragma_database_size() "
        "WHERE database_name = current_database()"
    ).fetchone()
    used = int(row[0]) if row and row[0] is not None else 0
    threshold = max(MIN_CHECKPOINT_BYTES, int(CHECKPOINT_GROWTH * used))
    connection.execute(f"SET checkpoint_threshold = '{threshold}B'")
    return threshold
