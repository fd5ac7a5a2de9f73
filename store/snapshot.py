"""Snapshots of the store: every table as encrypted Parquet, one point in time, read-only.

Training jobs, Dask and Spark read a snapshot, never the live store (DuckDB allows one
writing process per file, and the service is that process while it runs). Layout::

    <data_dir>/snapshots/<UTC time, e.g. 2025-12-05T10-07-12.123456Z>/
        manifest.json                 # SnapshotManifest: tables, rows, declared types, hashes
        processes/part-00000.parquet  # one folder per table: Dask and Spark read table/*.parquet
        ...
        derived/                      # frames computed from the tables, written later by jobs
                                      # (write_encrypted_parquet: the same encryption)

* Consistent: all tables are copied inside one read transaction on a second connection to
  the store's database, so a writer running meanwhile (the service) is neither blocked nor
  seen halfway.
* Encrypted: Parquet modular encryption (AES-GCM, footer and every column under one key).
  The Parquet key is derived from the keyring's store key with HMAC-SHA256 and is never
  written anywhere; the manifest holds only a check value that tells a wrong key apart
  from a damaged file. Personal columns are already pseudonyms or field ciphertexts inside.
* Atomic: written into a hidden temporary folder beside the target and renamed into place
  when complete; a reader never sees half a snapshot. Owner-only: folders 0700, files 0600.
* Typed: the views ``open_snapshot`` creates cast every column to its declared type
  (``store.schema``), so a column empty on every row still has its type.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from core.settings import Keyring
from store.database import Store, file_sha256, httpfs_extension_path
from store.schema import TABLES, Table, create_table_sql

SNAPSHOTS_FOLDER = "snapshots"
MANIFEST_FILE = "manifest.json"
PART_FILE = "part-00000.parquet"
FORMAT_VERSION = 1
_KEY_NAME = "lodestar_snapshot"
_KEY_CONTEXT = b"lodestar parquet snapshot key v1"
_CHECK_CONTEXT = b"lodestar parquet snapshot key check v1"
_FOLDER_TIME = "%Y-%m-%dT%H-%M-%S.%fZ"
_FOLDER_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{6}Z$")
_TEMPORARY_PREFIX = ".partial-"


class SnapshotError(RuntimeError):
    """A snapshot cannot be written, found, decrypted or trusted."""


@dataclass(frozen=True)
class TableManifest:
    """One table of a snapshot: its rows, declared column types and content hash.

    ``content_sha256`` depends on the rows only (not on their order, the encryption nonces
    or the Parquet layout): two snapshots of the same data have the same hash."""

    rows: int
    columns: dict[str, str]
    files: dict[str, str]
    content_sha256: str


@dataclass(frozen=True)
class SnapshotManifest:
    """What ``manifest.json`` holds. ``data_version`` hashes every table's content hash;
    ``schema_version`` hashes the declared DDL of every table (``store.schema``)."""

    path: Path
    created_at: str
    data_version: str
    schema_version: str
    format_version: int
    key_check: str
    tables: dict[str, TableManifest]

    @property
    def row_counts(self) -> dict[str, int]:
        return {name: table.rows for name, table in self.tables.items()}

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document.pop("path")
        return document

    @classmethod
    def read(cls, folder: Path) -> SnapshotManifest:
        path = Path(folder) / MANIFEST_FILE
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            tables = {
                name: TableManifest(**entry) for name, entry in document.pop("tables").items()
            }
            return cls(path=Path(folder), tables=tables, **document)
        except FileNotFoundError:
            raise SnapshotError(f"no snapshot at {folder} (no {MANIFEST_FILE})") from None
        except (ValueError, TypeError, KeyError) as error:
            raise SnapshotError(f"unreadable snapshot manifest {path}: {error}") from error


def declared_schema_version() -> str:
    """16 hex characters over the DDL of every declared table, in declaration order."""
    ddl = "\n".join(create_table_sql(table) for table in TABLES.values())
    return hashlib.sha256(ddl.encode()).hexdigest()[:16]


def snapshot_root(data_dir: Path) -> Path:
    return Path(data_dir) / SNAPSHOTS_FOLDER


# --------------------------------------------------------------------------------------------
# Keys


def _parquet_key(keyring: Keyring) -> str:
    """The 256-bit Parquet key, base64, derived from the store key (never stored)."""
    digest = hmac.new(keyring.store_key.encode(), _KEY_CONTEXT, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _key_check(parquet_key: str) -> str:
    """A value that identifies the key without revealing it (HMAC under the key itself)."""
    return hmac.new(parquet_key.encode(), _CHECK_CONTEXT, hashlib.sha256).hexdigest()[:16]


def _prepare_connection(connection: duckdb.DuckDBPyConnection, parquet_key: str) -> None:
    """OpenSSL (httpfs) for the cipher, and the key under its session name."""
    connection.execute(f"LOAD '{_sql_text(str(httpfs_extension_path()))}'")
    connection.execute(f"PRAGMA add_parquet_key('{_KEY_NAME}', '{parquet_key}')")


_ENCRYPTION = f"ENCRYPTION_CONFIG {{footer_key: '{_KEY_NAME}'}}"


# --------------------------------------------------------------------------------------------
# Writing


def write_snapshot(
    store: Store,
    target_root: Path,
    keyring: Keyring,
    *,
    keep: int | None = None,
    on_table: Callable[[str, int], None] | None = None,
) -> SnapshotManifest:
    """Write every declared table of ``store`` into ``<target_root>/<UTC time>/``.

    Reads through a second connection to the store's database (``store_cursor``) inside one
    transaction. A service that shares its store between threads takes its lock only around
    ``store_cursor`` and calls ``write_snapshot_from`` without it. ``keep`` prunes older
    snapshots to that many (None keeps all); ``on_table(name, rows)`` is called after each
    table is written."""
    return write_snapshot_from(
        store_cursor(store), target_root, keyring, keep=keep, on_table=on_table
    )


def store_cursor(store: Store) -> duckdb.DuckDBPyConnection:
    """A second connection to the store's database, with the store's catalog in use; it may
    be used from another thread while the store's own connection serves requests."""
    row = store.connection.execute("SELECT current_database()").fetchone()
    catalog = str(row[0]) if row else "memory"
    cursor = store.connection.cursor()
    cursor.execute(f'USE "{catalog}"')
    return cursor


def write_snapshot_from(
    cursor: duckdb.DuckDBPyConnection,
    target_root: Path,
    keyring: Keyring,
    *,
    keep: int | None = None,
    on_table: Callable[[str, int], None] | None = None,
) -> SnapshotManifest:
    """``write_snapshot`` on a cursor from ``store_cursor`` (closed when done)."""
    target_root = Path(target_root)
    _make_private_dir(target_root)
    parquet_key = _parquet_key(keyring)
    created = datetime.now(UTC)
    temporary = Path(tempfile.mkdtemp(prefix=_TEMPORARY_PREFIX, dir=target_root))
    try:
        _prepare_connection(cursor, parquet_key)
        with _read_transaction(cursor):
            tables = {
                table.name: _write_table(cursor, table, temporary, on_table)
                for table in TABLES.values()
            }
        manifest = SnapshotManifest(
            path=target_root / created.strftime(_FOLDER_TIME),
            created_at=created.isoformat(),
            data_version=_combined_hash(tables),
            schema_version=declared_schema_version(),
            format_version=FORMAT_VERSION,
            key_check=_key_check(parquet_key),
            tables=tables,
        )
        _write_private_file(
            temporary / MANIFEST_FILE, json.dumps(manifest.to_json(), indent=2) + "\n"
        )
        _publish(temporary, manifest.path)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    finally:
        cursor.close()
    if keep is not None:
        prune_snapshots(target_root, keep=keep)
    return manifest


@contextmanager
def _read_transaction(cursor: duckdb.DuckDBPyConnection) -> Iterator[None]:
    cursor.execute("BEGIN TRANSACTION")
    try:
        yield
    finally:
        cursor.execute("ROLLBACK")


def _write_table(
    cursor: duckdb.DuckDBPyConnection,
    table: Table,
    folder: Path,
    on_table: Callable[[str, int], None] | None,
) -> TableManifest:
    table_dir = folder / table.name
    _make_private_dir(table_dir)
    part = table_dir / PART_FILE
    select = _typed_select(table, f'"{table.name}"')
    cursor.execute(f"COPY ({select}) TO '{_sql_text(str(part))}' (FORMAT parquet, {_ENCRYPTION})")
    os.chmod(part, 0o600)
    rows, content = _content_hash(cursor, table)
    if on_table is not None:
        on_table(table.name, rows)
    return TableManifest(
        rows=rows,
        columns={column.name: column.sql_type for column in table.columns},
        files={f"{table.name}/{PART_FILE}": file_sha256(part)},
        content_sha256=content,
    )


def _content_hash(cursor: duckdb.DuckDBPyConnection, table: Table) -> tuple[int, str]:
    """Row count and an order-free hash of the rows: the XOR of each row's MD5 (rows are
    unique by the primary key, so none cancels another), with the count and declared types."""
    row = cursor.execute(
        f"SELECT count(*), CAST(bit_xor(md5_number(CAST(t AS VARCHAR))) AS VARCHAR) "
        f'FROM "{table.name}" AS t'
    ).fetchone()
    rows = int(row[0]) if row else 0
    xor = str(row[1]) if row and row[1] is not None else "0"
    text = f"{create_table_sql(table)}\n{rows}\n{xor}"
    return rows, hashlib.sha256(text.encode()).hexdigest()


def _combined_hash(tables: dict[str, TableManifest]) -> str:
    text = "\n".join(f"{name}:{tables[name].content_sha256}" for name in sorted(tables))
    return hashlib.sha256(text.encode()).hexdigest()


def _publish(temporary: Path, final: Path) -> None:
    """Rename the complete folder into place (atomic on one file system)."""
    if final.exists():
        raise SnapshotError(f"a snapshot already exists at {final}")
    os.chmod(temporary, 0o700)
    os.rename(temporary, final)
    _fsync_dir(final.parent)


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _make_private_dir(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)


def _write_private_file(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def table_content_hash(connection: duckdb.DuckDBPyConnection, table_name: str) -> str:
    """``TableManifest.content_sha256`` of the declared table ``table_name`` as ``connection``
    sees it now (a store's connection or a snapshot's): equal to a snapshot manifest's value
    exactly when the rows are the same."""
    return _content_hash(connection, TABLES[table_name])[1]


def write_encrypted_parquet(table: Any, path: Path, keyring: Keyring) -> None:
    """``table`` (an Arrow table or a pandas frame, types as given) as one Parquet file
    encrypted like a snapshot's tables (footer and every column under the snapshot key),
    owner-only; written under a temporary name beside ``path`` and renamed into place, so a
    reader finds the whole file or none."""
    path = Path(path)
    _make_private_dir(path.parent)
    temporary = path.with_name(f"{_TEMPORARY_PREFIX}{os.getpid()}-{path.name}")
    connection = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    try:
        _prepare_connection(connection, _parquet_key(keyring))
        connection.register("table_to_write", table)
        connection.execute(
            f"COPY table_to_write TO '{_sql_text(str(temporary))}' (FORMAT parquet, {_ENCRYPTION})"
        )
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    finally:
        connection.close()


def read_encrypted_parquet(path: Path, keyring: Keyring) -> Any:
    """The Arrow table of a file ``write_encrypted_parquet`` wrote (raises ``SnapshotError``
    when it cannot be read under this key)."""
    connection = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    try:
        _prepare_connection(connection, _parquet_key(keyring))
        pattern = _sql_text(str(path))
        return connection.execute(
            f"SELECT * FROM read_parquet('{pattern}', "
            f"encryption_config = {{footer_key: '{_KEY_NAME}'}})"
        ).to_arrow_table()
    except duckdb.Error as error:
        raise SnapshotError(f"cannot read {path}: {error}") from error
    finally:
        connection.close()


# --------------------------------------------------------------------------------------------
# Finding and pruning


def list_snapshots(target_root: Path) -> list[Path]:
    """Complete snapshots under ``target_root``, oldest first (folder names sort by time);
    temporary folders of a write in progress or one that failed are not listed."""
    root = Path(target_root)
    if not root.is_dir():
        return []
    return sorted(
        child
        for child in root.iterdir()
        if child.is_dir() and _FOLDER_PATTERN.match(child.name) and (child / MANIFEST_FILE).exists()
    )


def latest_snapshot(data_dir: Path) -> Path | None:
    """The newest complete snapshot under ``<data_dir>/snapshots``, or None."""
    snapshots = list_snapshots(snapshot_root(data_dir))
    return snapshots[-1] if snapshots else None


def prune_snapshots(target_root: Path, *, keep: int) -> list[Path]:
    """Remove all but the ``keep`` newest snapshots; returns the folders removed."""
    if keep < 1:
        raise ValueError("keep at least one snapshot")
    removed = list_snapshots(target_root)[:-keep]
    for folder in removed:
        shutil.rmtree(folder)
    return removed


# --------------------------------------------------------------------------------------------
# Reading


class Snapshot:
    """A read-only view of one snapshot: an in-memory DuckDB with one view per table over
    its encrypted Parquet files, each column cast to its declared type. Offers the reading
    part of ``Store`` (``query``, ``count``, ``table_counts``), so code that reads a store
    reads a snapshot unchanged."""

    def __init__(self, manifest: SnapshotManifest, connection: duckdb.DuckDBPyConnection) -> None:
        self.manifest = manifest
        self.path = manifest.path
        self.connection = connection

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def count(self, table_name: str) -> int:
        row = self.connection.execute(f'SELECT count(*) FROM "{table_name}"').fetchone()
        return int(row[0]) if row else 0

    def table_counts(self) -> dict[str, int]:
        return {name: self.count(name) for name in TABLES}

    def query(self, sql: str, parameters: list[object] | None = None) -> pd.DataFrame:
        return self.connection.execute(sql, parameters or []).df()


def open_snapshot(path: Path, keyring: Keyring, *, verify_files: bool = True) -> Snapshot:
    """Open the snapshot folder ``path`` for reading.

    Raises ``SnapshotError`` when the folder is no complete snapshot, was written for
    another declared schema, was made under another key, or (``verify_files``) a file's
    SHA-256 or a table's row count differs from the manifest."""
    manifest = SnapshotManifest.read(Path(path))
    if manifest.schema_version != declared_schema_version():
        raise SnapshotError(
            f"snapshot {manifest.path.name} has schema {manifest.schema_version}, this code "
            f"declares {declared_schema_version()}: write a new snapshot"
        )
    parquet_key = _parquet_key(keyring)
    if manifest.key_check != _key_check(parquet_key):
        raise SnapshotError(
            f"snapshot {manifest.path.name} was encrypted under another key than the "
            "configured store key: use the installation's key file or write a new snapshot"
        )
    missing = [name for name in TABLES if name not in manifest.tables]
    if missing:
        raise SnapshotError(f"snapshot {manifest.path.name} lacks tables {missing}")
    if verify_files:
        _verify_files(manifest)
    connection = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    try:
        _prepare_connection(connection, parquet_key)
        for table in TABLES.values():
            _create_view(connection, manifest.path, table)
        snapshot = Snapshot(manifest, connection)
        counts = snapshot.table_counts()
    except duckdb.Error as error:
        connection.close()
        raise SnapshotError(f"cannot read snapshot {manifest.path}: {error}") from error
    if counts != manifest.row_counts:
        connection.close()
        raise SnapshotError(f"snapshot {manifest.path.name}: row counts differ from its manifest")
    return snapshot


def _verify_files(manifest: SnapshotManifest) -> None:
    for name, table in manifest.tables.items():
        for relative, digest in table.files.items():
            path = manifest.path / relative
            if not path.exists() or file_sha256(path) != digest:
                raise SnapshotError(
                    f"snapshot {manifest.path.name}: {relative} is missing or altered "
                    f"(table {name})"
                )


def _create_view(connection: duckdb.DuckDBPyConnection, folder: Path, table: Table) -> None:
    pattern = _sql_text(str(folder / table.name / "*.parquet"))
    source = f"read_parquet('{pattern}', encryption_config = {{footer_key: '{_KEY_NAME}'}})"
    connection.execute(f'CREATE VIEW "{table.name}" AS {_typed_select(table, source)}')


def _typed_select(table: Table, source: str) -> str:
    """Every declared column, in declared order, cast to its declared type."""
    columns = ", ".join(f'CAST("{c.name}" AS {c.sql_type}) AS "{c.name}"' for c in table.columns)
    return f"SELECT {columns} FROM {source}"


def _sql_text(value: str) -> str:
    return value.replace("'", "''")
