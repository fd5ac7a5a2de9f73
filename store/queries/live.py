"""What the live service reads back from reviewers: verdict counts per alert level (realised
precision) and how many verdicts there are (the retrain schedule)."""

from __future__ import annotations

import duckdb

_ALERT_VERDICTS = """
SELECT model_name, model_version, warning_level,
       count(*) AS alerts,
       count(*) FILTER (WHERE status IN ('confirmed', 'dismissed')) AS reviewed,
       count(*) FILTER (WHERE status = 'confirmed') AS confirmed,
       count(*) FILTER (WHERE status = 'needs_information') AS needs_information
FROM alerts
GROUP BY ALL
ORDER BY model_name, model_version, warning_level
"""


def alert_verdict_counts(
    connection: duckdb.DuckDBPyConnection,
) -> list[tuple[str, str, str, int, int, int, int]]:
    """Per model name, version and warning level: (name, version, level, alerts, reviewed,
    confirmed, needs_information). An alert's status is its latest verdict; reviewed means
    confirmed or dismissed."""
    return [
        (
            str(name),
            str(version),
            str(level),
            int(alerts),
            int(reviewed),
            int(confirmed),
            int(asked),
        )
        for name, version, level, alerts, reviewed, confirmed, asked in connection.execute(
            _ALERT_VERDICTS
        ).fetchall()
    ]


def verdict_count(connection: duckdb.DuckDBPyConnection) -> int:
    """Reviewer verdicts recorded so far (rows of ``reviews``)."""
    row = connection.execute("SELECT count(*) FROM reviews").fetchone()
    return int(row[0]) if row else 0
