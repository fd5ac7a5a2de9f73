"""The command line's ingestion (``ingest_file``: the xAPI reader's common path, rows counted
rather than returned, the collector run per chunk) stores exactly what the reference path
stores: every statement judged field by field (``_checked_values``), the inserted rows
returned (``ingest_run``'s default, what the service uses). Same tables, value for value."""

from __future__ import annotations

import shutil
from contextlib import nullcontext
from pathlib import Path

import orjson
import pandas as pd
import pytest

from core.security import PersonalData
from ingest.layout import standard_paths
from ingest.readers import xapi
from ingest.run import ingest_file, ingest_run
from store.database import Store
from store.schema import TABLES

# Written by the run, not read from the files: they differ between any two runs.
RUN_COLUMNS = frozenset({"ingested_at", "quarantined_at", "run_id", "started_at", "seconds"})


def _odd_statements(statements: Path) -> None:
    """Append to the world's statements what a file may hold besides good statements: a
    duplicate, malformed JSON, a lone surrogate, bytes that are not UTF-8, a year out of
    range, a statement without id, an account seen first, a blank line."""
    with statements.open("rb") as handle:
        first = handle.readline().strip()
    statement = orjson.loads(first)
    without_id = {k: v for k, v in statement.items() if k != "id"}
    far_future = {**statement, "id": "00000000-0000-4000-8000-000000000001"}
    far_future["timestamp"] = "9999-01-01T00:00:00Z"
    new_account = {**statement, "id": "00000000-0000-4000-8000-000000000002"}
    new_account["actor"] = {"account": {"homePage": "https://x.invalid", "name": "E999999"}}
    lines = [
        first,
        b'{"id": "x", "verb": ',
        b'{"id": "\\ud800"}',
        b'{"id": "\xff\xfe"}',
        orjson.dumps(far_future),
        orjson.dumps(without_id),
        orjson.dumps(new_account),
        b"",
    ]
    with statements.open("ab") as handle:
        handle.write(b"\n".join(lines) + b"\n")


def _table(store: Store, personal: PersonalData, name: str) -> pd.DataFrame:
    """The table's rows in key order, run columns left out, encrypted values decrypted."""
    table = TABLES[name]
    columns = [c for c in table.columns if c.name not in RUN_COLUMNS]
    names = ", ".join(f'"{c.name}"' for c in columns)
    frame = store.query(f'SELECT {names} FROM "{name}" ORDER BY ALL')
    for column in columns:
        if column.sql_type == "BLOB":
            frame[column.name] = [
                None if pd.isna(value) else personal.cipher.decrypt(value, column=column.name)
                for value in frame[column.name]
            ]
    return frame


@pytest.fixture
def world(tmp_path: Path, small_world: tuple[Path, Path]) -> Path:
    copy = tmp_path / "world"
    shutil.copytree(small_world[0], copy)
    _odd_statements(copy / "learning" / "statements.jsonl")
    return copy


def test_the_command_line_path_stores_what_the_reference_path_stores(
    tmp_path: Path,
    world: Path,
    keyring: object,
    personal: PersonalData,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = keyring.store_key  # type: ignore[attr-defined]
    files = [(kind, path) for kind, path in standard_paths(world) if path.exists()]
    assert {"xapi", "ocds"} <= {kind for kind, _ in files}
    with Store(tmp_path / "new.duckdb", encryption_key=key) as new:
        for kind, path in files:
            ingest_file(new, personal, kind, path)
        new_tables = {name: _table(new, personal, name) for name in TABLES}
    monkeypatch.setattr(xapi._StatementParser, "_common_values", lambda self, obj: None)
    with Store(tmp_path / "reference.duckdb", encryption_key=key) as reference:
        for kind, path in files:
            ingest_run(lambda: nullcontext(reference), personal, kind, path)
        reference_tables = {name: _table(reference, personal, name) for name in TABLES}
    assert len(new_tables["statements"]) > 1000
    assert len(new_tables["quarantine"]) >= 5  # the odd statements
    for name in TABLES:
        pd.testing.assert_frame_equal(new_tables[name], reference_tables[name], obj=name)
