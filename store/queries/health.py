"""Whether the store answers, for the readiness probe."""

from __future__ import annotations

import duckdb

from store.schema import TABLES


def tables_present(connection: duckdb.DuckDBPyConnection) -> int:
    """How many of the schema's tables the attached database holds. Raises ``duckdb.Error``
    when the store does not answer."""
    connection.execute("SELECT 1").fetchone()
    names = {
        str(row[0])
        for row in connection.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
        ).fetchall()
    }
    return len(names & TABLES.keys())
