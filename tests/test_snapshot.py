"""Snapshots of the store: typed round trip, encryption, one point in time, atomic, pruned."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from core.security import PersonalData
from core.settings import Keyring, Settings, init_key_file
from lodestar.cli import main as lodestar
from store.database import Store
from store.schema import TABLES, Column, Table
from store.snapshot import (
    MANIFEST_FILE,
    SnapshotError,
    SnapshotManifest,
    _key_check,
    _parquet_key,
    latest_snapshot,
    list_snapshots,
    open_snapshot,
    prune_snapshots,
    snapshot_root,
    write_snapshot,
)
from tests.conftest import make_keyring

LONG_TABLE = "bids"
LONG_ROWS = 4_000
EMPTY_LISTS_UNTIL = 3_000  # tenderer_ids is [] on the first 3,000 rows, filled after
ALL_NULL = {"bids": "value_currency", "processes": "award_period_end", "members": "crew"}
MEMBER_NAME, MEMBER_PHONE = "欧阳娜娜", "13912345678"
SUPPLIER_NAME = "鄂尔多斯市蒙泰煤机配件有限公司"


def _value(column: Column, row: int) -> Any:
    """A value of the column's declared type for row ``row`` (distinct per row)."""
    kind = column.sql_type
    if kind == "VARCHAR[]":
        return [] if row < EMPTY_LISTS_UNTIL else [f"S{row:05d}", "S00000"]
    values: dict[str, Any] = {
        "VARCHAR": f"{column.name}-{row}",
        "BIGINT": row,
        "INTEGER": row % 1000,
        "DOUBLE": row / 3,
        "BOOLEAN": row % 2 == 0,
        "BLOB": f"bytes-{row}".encode(),
        "TIMESTAMP": datetime(2025, 1, 1) + timedelta(minutes=row),
        "DATE": date(2024, 1, 1) + timedelta(days=row % 700),
    }
    return values[kind]


def _table_frame(table: Table, rows: int) -> pd.DataFrame:
    frame = pd.DataFrame(
        {c.name: [_value(c, row) for row in range(rows)] for c in table.columns}, dtype=object
    )
    if table.name in ALL_NULL:
        frame[ALL_NULL[table.name]] = None
    return frame


def _fill(store: Store, personal: PersonalData) -> None:
    """Every table, bids long; a member and a supplier carry a name and phone to look for."""
    for table in TABLES.values():
        frame = _table_frame(table, LONG_ROWS if table.name == LONG_TABLE else 5)
        if table.name == "members":
            frame.loc[0, "name_enc"] = personal.cipher.encrypt(MEMBER_NAME, column="name_enc")
            frame.loc[0, "phone_enc"] = personal.cipher.encrypt(MEMBER_PHONE, column="phone_enc")
        if table.name == "suppliers":
            frame.loc[0, "name"] = SUPPLIER_NAME  # plaintext in the store, by design
            frame.loc[0, "address"] = f"{MEMBER_NAME} {MEMBER_PHONE}"
        assert store.insert_new(table.name, frame) == len(frame)


@pytest.fixture
def filled_store(store: Store, personal: PersonalData) -> Store:
    _fill(store, personal)
    return store


def _sorted(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    """Rows in key order; list cells as tuples, so frames compare cell by cell."""
    frame = frame.sort_values(list(table.key)).reset_index(drop=True)
    for column in table.columns:
        if column.sql_type.endswith("[]"):
            frame[column.name] = frame[column.name].map(tuple)
    return frame


def test_round_trip_every_table_with_declared_types(
    filled_store: Store, keyring: Keyring, tmp_path: Path
) -> None:
    manifest = write_snapshot(filled_store, tmp_path / "snapshots", keyring)
    assert manifest.row_counts == filled_store.table_counts()
    with open_snapshot(manifest.path, keyring) as snapshot:
        assert snapshot.table_counts() == filled_store.table_counts()
        for table in TABLES.values():
            described = snapshot.query(f'DESCRIBE "{table.name}"')
            types = dict(zip(described["column_name"], described["column_type"], strict=True))
            assert types == {c.name: c.sql_type for c in table.columns}, table.name
            assert manifest.tables[table.name].columns == types
            expected = filled_store.query(f'SELECT * FROM "{table.name}"')
            got = snapshot.query(f'SELECT * FROM "{table.name}"')
            pd.testing.assert_frame_equal(_sorted(got, table), _sorted(expected, table))
        lists = snapshot.query(
            "SELECT count(*) FILTER (len(tenderer_ids) = 0) AS empty, "
            "count(*) FILTER (len(tenderer_ids) = 2) AS filled, "
            "count(value_currency) AS currencies FROM bids"
        ).iloc[0]
    assert (lists["empty"], lists["filled"]) == (EMPTY_LISTS_UNTIL, LONG_ROWS - EMPTY_LISTS_UNTIL)
    assert lists["currencies"] == 0


def test_empty_tables_keep_their_declared_types(
    store: Store, keyring: Keyring, tmp_path: Path
) -> None:
    manifest = write_snapshot(store, tmp_path / "snapshots", keyring)
    with open_snapshot(manifest.path, keyring) as snapshot:
        described = snapshot.query('DESCRIBE "alerts"')
        assert list(described["column_type"]) == [c.sql_type for c in TABLES["alerts"].columns]
        assert sum(snapshot.table_counts().values()) == 0


def test_same_data_same_data_version(filled_store: Store, keyring: Keyring, tmp_path: Path) -> None:
    first = write_snapshot(filled_store, tmp_path / "a", keyring)
    second = write_snapshot(filled_store, tmp_path / "b", keyring)
    assert first.data_version == second.data_version
    filled_store.connection.execute("UPDATE bids SET value_amount = 1.5 WHERE bid_id = 'bid_id-7'")
    third = write_snapshot(filled_store, tmp_path / "c", keyring)
    assert third.data_version != first.data_version
    assert third.tables["bids"].content_sha256 != first.tables["bids"].content_sha256
    assert third.tables["lots"].content_sha256 == first.tables["lots"].content_sha256


def _snapshot_bytes(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(folder.rglob("*.parquet")))


def test_no_plaintext_in_the_parquet_files(
    filled_store: Store, keyring: Keyring, tmp_path: Path
) -> None:
    needles = [SUPPLIER_NAME, MEMBER_NAME, MEMBER_PHONE, "tenderer_ids", "S03999"]
    unencrypted = b""
    for table in ("suppliers", "bids"):
        plain = tmp_path / f"{table}.parquet"
        filled_store.connection.execute(f"COPY {table} TO '{plain}' (FORMAT parquet)")
        unencrypted += plain.read_bytes()
    assert all(needle.encode() in unencrypted for needle in needles)  # the check can fail

    manifest = write_snapshot(filled_store, tmp_path / "snapshots", keyring)
    written = _snapshot_bytes(manifest.path)  # the manifest names columns: parquet only here
    assert [needle for needle in needles if needle.encode() in written] == []
    assert keyring.store_key.encode() not in written + (manifest.path / MANIFEST_FILE).read_bytes()


def test_parquet_files_do_not_open_without_the_key(
    filled_store: Store, keyring: Keyring, tmp_path: Path
) -> None:
    manifest = write_snapshot(filled_store, tmp_path / "snapshots", keyring)
    part = next((manifest.path / "suppliers").glob("*.parquet"))
    with pytest.raises(duckdb.Error, match="encrypted"):
        duckdb.connect().execute(f"SELECT * FROM read_parquet('{part}')").fetchall()


def test_wrong_key_fails_clearly(filled_store: Store, keyring: Keyring, tmp_path: Path) -> None:
    manifest = write_snapshot(filled_store, tmp_path / "snapshots", keyring)
    other = dataclasses.replace(make_keyring(), store_key="another store key of enough length")
    with pytest.raises(SnapshotError, match="another key"):
        open_snapshot(manifest.path, other)


def test_wrong_key_fails_clearly_even_with_a_forged_check(
    filled_store: Store, keyring: Keyring, tmp_path: Path
) -> None:
    """The manifest's check only names the problem early: the Parquet cipher itself refuses
    a wrong key."""
    manifest = write_snapshot(filled_store, tmp_path / "snapshots", keyring)
    other = dataclasses.replace(keyring, store_key="another store key of enough length")
    document = SnapshotManifest.read(manifest.path).to_json()
    document["key_check"] = _key_check(_parquet_key(other))
    (manifest.path / MANIFEST_FILE).write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(SnapshotError, match=r"right key|AES"):
        open_snapshot(manifest.path, other)


def test_altered_file_is_refused(filled_store: Store, keyring: Keyring, tmp_path: Path) -> None:
    manifest = write_snapshot(filled_store, tmp_path / "snapshots", keyring)
    part = next((manifest.path / "bids").glob("*.parquet"))
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match="altered"):
        open_snapshot(manifest.path, keyring)


def test_one_point_in_time_while_a_writer_goes_on(
    filled_store: Store, keyring: Keyring, tmp_path: Path
) -> None:
    """Rows written to a table after the snapshot began are not in it, even when that table
    is copied later (``processes`` is copied first, ``token_revocations`` last)."""
    late = pd.DataFrame(
        {
            "subject_key": ["late-subject"],
            "revoked_at": [datetime(2025, 6, 1)],
            "revoked_by_key": ["admin"],
            "reason": ["left"],
        }
    )

    def write_meanwhile(table: str, rows: int) -> None:
        if table == "processes":
            assert filled_store.insert_new("token_revocations", late) == 1

    manifest = write_snapshot(
        filled_store, tmp_path / "snapshots", keyring, on_table=write_meanwhile
    )
    assert filled_store.count("token_revocations") == 6
    assert manifest.row_counts["token_revocations"] == 5
    with open_snapshot(manifest.path, keyring) as snapshot:
        assert snapshot.count("token_revocations") == 5


def test_a_failed_write_leaves_no_snapshot(
    filled_store: Store, keyring: Keyring, tmp_path: Path
) -> None:
    root = tmp_path / "snapshots"
    earlier = write_snapshot(filled_store, root, keyring)

    def fail_midway(table: str, rows: int) -> None:
        if table == "bids":
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_snapshot(filled_store, root, keyring, on_table=fail_midway)
    assert list_snapshots(root) == [earlier.path]
    assert sorted(path.name for path in root.iterdir()) == [earlier.path.name]
    assert latest_snapshot(tmp_path) == earlier.path  # tmp_path is the data folder here


def test_retention_keeps_the_newest(filled_store: Store, keyring: Keyring, tmp_path: Path) -> None:
    root = tmp_path / "snapshots"
    written = [write_snapshot(filled_store, root, keyring, keep=2).path for _ in range(3)]
    assert list_snapshots(root) == written[1:]
    assert prune_snapshots(root, keep=1) == [written[1]]
    assert list_snapshots(root) == [written[2]]
    with pytest.raises(ValueError, match="at least one"):
        prune_snapshots(root, keep=0)


def test_owner_only_permissions(filled_store: Store, keyring: Keyring, tmp_path: Path) -> None:
    os.umask(0o022)
    root = tmp_path / "snapshots"
    manifest = write_snapshot(filled_store, root, keyring)
    modes = {
        path.relative_to(root).as_posix(): stat.S_IMODE(path.stat().st_mode)
        for path in [root, *root.rglob("*")]
    }
    assert modes["."] == 0o700
    assert {m for p, m in modes.items() if (root / p).is_dir()} == {0o700}
    files = {p: m for p, m in modes.items() if (root / p).is_file()}
    assert len(files) == len(TABLES) + 1  # one part per table and the manifest
    assert set(files.values()) == {0o600}
    assert manifest.created_at.endswith("+00:00")


def test_snapshot_command_writes_and_lists(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    settings = Settings(environment="test", data_dir=tmp_path / "data", key_file=tmp_path / "k")
    init_key_file(settings.key_file)
    with Store.open(settings, settings.keyring()):
        pass
    arguments = ["--data-dir", str(settings.data_dir), "--key-file", str(settings.key_file)]
    assert lodestar(["snapshot", *arguments]) == 0
    written = latest_snapshot(settings.data_dir)
    assert written is not None
    assert str(written) in capsys.readouterr().out
    assert lodestar(["snapshot", "--list", *arguments]) == 0
    assert str(written) in capsys.readouterr().out
    assert snapshot_root(settings.data_dir) == written.parent


def test_snapshot_command_without_a_store_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    key_file = tmp_path / "k"
    init_key_file(key_file)
    code = lodestar(["snapshot", "--data-dir", str(tmp_path / "d"), "--key-file", str(key_file)])
    assert code == 1
    assert "no store" in capsys.readouterr().err
