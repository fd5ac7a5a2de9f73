"""The command line's ingestion (``ingest_file``: the xAPI reader's common path, rows counted
rather than returned, the collector run per chunk) stores exactly what the reference path
stores: every statement judged field by field (``_checked_values``), the inserted rows
returned (``ingest_run``'s default, what the service uses). Same tables, value for value."""

from __future__ import annotations

import os
import shutil
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest

from core.security import PersonalData
from core.settings import Keyring
from ingest.layout import standard_paths
from ingest.parallel import ingest_files_parallel, lane_of
from ingest.readers import xapi
from ingest.run import ingest_file, ingest_run, read_chunks
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


def reader_that_dies(lane: int, files: Any, keyring: Any, out: Any) -> None:
    """A reader process that sends its first chunk of the statements and exits, as a killed
    process would (runs in the reader process: importable by name)."""
    personal = PersonalData(keyring)
    for index, kind, path in files:
        for chunk in read_chunks(kind, Path(path), personal):
            out.put(("chunk", index, chunk))
            if kind == "xapi":
                out.close()
                out.join_thread()
                os._exit(3)
        out.put(("end", index, None))
    out.put(("lane", lane, None))


def _counts(store: Store) -> pd.DataFrame:
    return store.query(
        "SELECT reader, records_in, accepted, quarantined FROM ingest_runs ORDER BY reader"
    )


def test_two_reader_processes_store_what_one_process_stores(
    tmp_path: Path, world: Path, keyring: Keyring, personal: PersonalData
) -> None:
    files = [(kind, path) for kind, path in standard_paths(world) if path.exists()]
    assert {lane_of(kind) for kind, _ in files} == {0, 1}
    with Store(tmp_path / "two.duckdb", encryption_key=keyring.store_key) as two:
        reports = ingest_files_parallel(two, personal, keyring, files)
        two_tables = {name: _table(two, personal, name) for name in TABLES}
        two_runs = _counts(two)
    with Store(tmp_path / "one.duckdb", encryption_key=keyring.store_key) as one:
        for kind, path in files:
            ingest_file(one, personal, kind, path)
        one_tables = {name: _table(one, personal, name) for name in TABLES}
        one_runs = _counts(one)
    assert [report.kind for report in reports] == [kind for kind, _ in files]
    assert all(r.records_in == r.accepted + r.quarantined for r in reports)
    for name in TABLES:
        if name != "ingest_runs":
            pd.testing.assert_frame_equal(two_tables[name], one_tables[name], obj=name)
    pd.testing.assert_frame_equal(two_runs, one_runs)


def test_a_reader_process_that_dies_loses_nothing_and_its_later_files_are_read(
    tmp_path: Path, world: Path, keyring: Keyring, personal: PersonalData
) -> None:
    files = [(kind, path) for kind, path in standard_paths(world) if path.exists()]
    with Store(tmp_path / "dies.duckdb", encryption_key=keyring.store_key) as store:
        reports = ingest_files_parallel(store, personal, keyring, files, reader=reader_that_dies)
        statements = store.query("SELECT count(*) AS n FROM statements")["n"].iloc[0]
        reasons = store.query("SELECT reason FROM quarantine WHERE source_line = 0")["reason"]
    by_kind = {report.kind: report for report in reports}
    assert all(r.records_in == r.accepted + r.quarantined for r in reports)
    xapi_report = by_kind["xapi"]
    assert xapi_report.accepted == statements > 0
    assert xapi_report.quarantined >= 1
    assert any("reader failed" in reason for reason in reasons)
    # the learning lane had nothing after the statements; the other lane was unaffected
    assert by_kind["ocds"].accepted > 0
    assert by_kind["ocds"].quarantined == 0
