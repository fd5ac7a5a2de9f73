"""A table whose key has no index (``Table.key_index`` false: ``statements``): the writers keep
the key unique, exactly as the primary key did, against what is stored and within a batch."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from core.security import PersonalData
from ingest.run import ingest_file
from store.database import Store
from store.queries.ingest import insert_new_returning
from store.schema import STATEMENTS, create_table_sql


def _statements(ids: list[str], first_line: int = 1) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "statement_id": ids,
            "member_key": "m1",
            "verb": "completed",
            "timestamp": datetime(2025, 3, 1, 8),
            "source_file": "s.jsonl",
            "source_line": range(first_line, first_line + len(ids)),
            "ingested_at": datetime(2025, 3, 2),
        }
    )


def _ids(store: Store) -> list[str]:
    return store.query("SELECT statement_id FROM statements ORDER BY source_line")[
        "statement_id"
    ].tolist()


def test_statements_have_no_key_index_and_a_non_null_key() -> None:
    ddl = create_table_sql(STATEMENTS)
    assert not STATEMENTS.key_index
    assert "PRIMARY KEY" not in ddl
    assert '"statement_id" VARCHAR NOT NULL' in ddl


def test_insert_new_keeps_the_first_of_repeated_and_stored_keys(store: Store) -> None:
    assert store.insert_new("statements", _statements(["a", "b", "a"])) == 2
    assert store.insert_new("statements", _statements(["b", "c", "c", "d"], first_line=10)) == 2
    assert _ids(store) == ["a", "b", "c", "d"]
    # the first of equal keys wins: "a" from line 1, "c" from line 11
    lines = store.query("SELECT statement_id, source_line FROM statements ORDER BY 1")
    assert lines["source_line"].tolist() == [1, 2, 11, 13]


def test_insert_new_returning_returns_only_the_rows_new_to_the_store(store: Store) -> None:
    store.insert_new("statements", _statements(["a", "b"]))
    inserted = insert_new_returning(
        store.connection, "statements", _statements(["b", "c", "a", "c", "e"], first_line=20)
    )
    assert inserted["statement_id"].tolist() == ["c", "e"]
    assert inserted["source_line"].tolist() == [21, 24]
    assert list(inserted.columns) == STATEMENTS.column_names
    assert sorted(_ids(store)) == ["a", "b", "c", "e"]


def test_a_null_statement_id_is_refused(store: Store) -> None:
    with pytest.raises(duckdb.ConstraintException, match="NOT NULL"):
        store.insert_new("statements", _statements([None]))  # type: ignore[list-item]


def test_a_store_made_with_the_primary_key_still_takes_statements_once(tmp_path: Path) -> None:
    """A store created before the key lost its index keeps its primary key; the anti-join
    and the key agree, so inserts into it still add each statement once."""
    path = tmp_path / "older.duckdb"
    with duckdb.connect(str(path)) as older:
        columns = ", ".join(f'"{c.name}" {c.sql_type}' for c in STATEMENTS.columns)
        older.execute(f'CREATE TABLE statements ({columns}, PRIMARY KEY ("statement_id"))')
    with Store(path, encryption_key=None) as opened:
        assert opened.insert_new("statements", _statements(["a", "b", "a"])) == 2
        assert opened.insert_new("statements", _statements(["b", "c"])) == 1
        assert sorted(_ids(opened)) == ["a", "b", "c"]


def test_a_file_ingested_twice_and_a_repeat_within_it_count_as_before(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    """Within a file a repeated id is quarantined (the reader); against the store it is
    accepted and adds no row; ``in = accepted + quarantined`` either way."""
    line = (
        '{{"id": "{id}", "actor": {{"account": {{"homePage": "https://lms.example", '
        '"name": "E001"}}}}, "verb": {{"id": "http://adlnet.gov/expapi/verbs/completed"}}, '
        '"object": {{"id": "https://lms.example/content/C0001"}}, '
        '"timestamp": "2025-03-01T08:00:00Z"}}'
    )
    ids = [f"00000000-0000-4000-8000-{n:012d}" for n in (1, 2, 1, 3)]
    first = tmp_path / "first.jsonl"
    first.write_text("\n".join(line.format(id=i) for i in ids) + "\n", encoding="utf-8")
    second = tmp_path / "second.jsonl"
    second.write_text(
        "\n".join(line.format(id=i) for i in [ids[1], ids[3], ids[1]]) + "\n", encoding="utf-8"
    )

    one = ingest_file(store, personal, "xapi", first)
    two = ingest_file(store, personal, "xapi", second)
    again = ingest_file(store, personal, "xapi", first)

    assert (one.records_in, one.accepted, one.quarantined, one.new_rows) == (4, 3, 1, 3)
    assert (two.records_in, two.accepted, two.quarantined, two.new_rows) == (3, 2, 1, 0)
    assert (again.records_in, again.accepted, again.quarantined, again.new_rows) == (4, 3, 1, 0)
    assert store.count("statements") == 3
