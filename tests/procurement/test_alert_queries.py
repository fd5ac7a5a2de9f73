"""``store.queries.procurement`` on a tiny in-memory ``alerts`` table."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from store.queries import procurement as queries


def tiny_alerts() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE alerts (alert_id VARCHAR, ocid VARCHAR, decision_date TIMESTAMP, "
        "buyer_id VARCHAR, supplier_ids VARCHAR[], probability DOUBLE, "
        "unsupervised_score DOUBLE, warning_level VARCHAR, red_flags VARCHAR, reasons VARCHAR, "
        "model_name VARCHAR, model_version VARCHAR, scored_at TIMESTAMP, status VARCHAR)"
    )
    for alert_id, ocid, day, level, probability, version, status in (
        ("a1", "p1", 1, "red", 0.9, "1", None),
        ("a2", "p2", 2, "yellow", 0.5, "1", "confirmed"),
        ("a3", "p3", 3, "red", 0.7, "2", "open"),
    ):
        connection.execute(
            "INSERT INTO alerts VALUES (?, ?, ?, 'b1', ['s1'], ?, NULL, ?, '[]', '[]', "
            "'procurement-risk', ?, ?, ?)",
            [
                alert_id,
                ocid,
                datetime(2026, 1, day),
                probability,
                level,
                version,
                datetime(2026, 1, day),
                status,
            ],
        )
    return connection


def test_an_empty_filter_has_no_where_clause() -> None:
    assert queries.AlertFilter().where() == ("", [])


def test_the_filter_narrows_and_pages_highest_probability_first() -> None:
    connection = tiny_alerts()
    red = queries.AlertFilter(levels=("red",))
    assert queries.count_alerts(connection, red) == 2
    assert [row[0] for row in queries.alert_page(connection, red, limit=1, offset=0)] == ["a1"]
    late = queries.AlertFilter(
        decided_from=datetime(2026, 1, 2), decided_before=datetime(2026, 1, 3)
    )
    assert [row[0] for row in queries.alert_page(connection, late, limit=10, offset=0)] == ["a2"]


def test_statuses_refresh_and_withdrawal_touch_open_alerts_only() -> None:
    connection = tiny_alerts()
    assert queries.alert_statuses(connection, ["a1", "a2", "zz"]) == {
        "a1": "open",
        "a2": "confirmed",
    }
    rows = pd.DataFrame({"alert_id": ["a2", "a3"], "probability": [0.1, 0.2]})
    queries.refresh_open_alerts(connection, rows, ["probability"])
    probability = queries.ALERT_FIELDS.index("probability")
    reviewed, still_open = queries.alert_row(connection, "a2"), queries.alert_row(connection, "a3")
    assert reviewed is not None
    assert reviewed[probability] == 0.5  # a verdict stands
    assert still_open is not None
    assert still_open[probability] == 0.2
    queries.delete_open_alerts(connection, ["a2", "a3"])
    assert queries.alert_ocid(connection, "a3") is None
    assert queries.alert_ocid(connection, "a2") == "p2"
    assert queries.ocids_with_open_alerts_of_other_models(connection, "procurement-risk", "2") == [
        "p1"
    ]
