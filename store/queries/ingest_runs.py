"""The ``ingest_runs`` table: one row per file ingested, by the service or the command line."""

from __future__ import annotations

from typing import Any

import duckdb

_RUN_COLUMNS = (
    "run_id, reader, source_file, source_sha256, records_in, accepted, quarantined, "
    "new_rows, started_at, seconds"
)


def latest_runs(
    connection: duckdb.DuckDBPyConnection, *, limit: int, kind: str | None = None
) -> list[dict[str, Any]]:
    """The latest runs (of reader ``kind`` if given), newest first."""
    where, parameters = ("WHERE reader = ?", [kind]) if kind else ("", [])
    rows = connection.execute(
        f"SELECT {_RUN_COLUMNS} FROM ingest_runs {where} ORDER BY started_at DESC LIMIT ?",
        [*parameters, limit],
    ).df()
    return [{str(key): value for key, value in row.items()} for row in rows.to_dict("records")]


def run_by_id(connection: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, Any] | None:
    rows = connection.execute(
        f"SELECT {_RUN_COLUMNS} FROM ingest_runs WHERE run_id = ?", [run_id]
    ).df()
    if rows.empty:
        return None
    return {str(key): value for key, value in rows.to_dict("records")[0].items()}


def latest_run_per_reader(connection: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Each reader's latest run (counts 0 where the run recorded none), by reader."""
    rows = connection.execute(
        """
        SELECT reader, source_file, started_at,
               coalesce(records_in, 0) AS records_in,
               coalesce(accepted, 0) AS accepted,
               coalesce(quarantined, 0) AS quarantined
        FROM ingest_runs
        QUALIFY row_number() OVER (PARTITION BY reader ORDER BY started_at DESC) = 1
        ORDER BY reader
        """
    )
    names = [column[0] for column in rows.description or []]
    return [dict(zip(names, row, strict=True)) for row in rows.fetchall()]
