"""The embedded store: one DuckDB file, encrypted as a whole, with the tables of ``schema``.

Whole-file encryption uses DuckDB's own AES-GCM database encryption, which needs the httpfs
extension loaded (for OpenSSL). The extension is installed from the PyPI package
``duckdb-extension-httpfs`` and loaded by file path: nothing is downloaded at run time.

DuckDB allows one writing process per file. The service holds the store while it runs;
stop it before ingesting from the command line, or open the store read-only.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import duckdb
import pandas as pd
import pyarrow as pa

from core.security import FieldCipher
from core.settings import Keyring, Settings, chmod_owner_only
from store.schema import TABLES, Column, create_table_sql, insert_new_sql

_ALIAS = "lodestar"

# The Arrow type each declared SQL type is handed to DuckDB as. DuckDB types a registered
# pandas object column from a sample of its rows, so a column empty or null on every sampled
# row (lots on three awards of fifteen thousand) would be typed NULL and its rare values fail
# to cast; an Arrow table carries its types, so nothing is inferred.
ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "VARCHAR[]": pa.list_(pa.string()),
    "DOUBLE": pa.float64(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "BOOLEAN": pa.bool_(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "BLOB": pa.binary(),
}


class StoreError(RuntimeError):
    """The store cannot be opened or written as asked."""


class StoreReader(Protocol):
    """The reading part of ``Store``, which a snapshot (``store.snapshot.Snapshot``) also
    offers: code that only reads takes a ``StoreReader`` and runs on either."""

    def query(self, sql: str, parameters: list[object] | None = None) -> pd.DataFrame: ...

    def count(self, table_name: str) -> int: ...

    def table_counts(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class QuarantineRecord:
    """A record that failed validation: kept whole, with where it came from and why."""

    reader: str
    source_file: str
    source_sha256: str
    source_line: int
    reason: str
    record: str


def httpfs_extension_path() -> Path:
    """Path of the httpfs extension shipped by the ``duckdb-extension-httpfs`` package."""
    import duckdb_extension_httpfs

    package_dir = Path(duckdb_extension_httpfs.__file__).parent
    candidates = sorted(
        glob.glob(str(package_dir / "extensions" / "*" / "httpfs.duckdb_extension"))
    )
    wanted = [c for c in candidates if f"v{duckdb.__version__}" in c]
    if not (wanted or candidates):
        raise StoreError("httpfs extension file not found; reinstall duckdb-extension-httpfs")
    return Path((wanted or candidates)[-1])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Store:
    """A connection to the Lodestar database file, with the schema in place.

    ``encryption_key=None`` opens an unencrypted file (tests of the plain path only);
    the CLI and the service always pass the key from the keyring.
    """

    def __init__(
        self,
        path: Path,
        *,
        encryption_key: str | None,
        read_only: bool = False,
        threads: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        if not read_only:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        elif not self.path.exists():
            raise StoreError(f"no store at {self.path}: run `lodestar ingest` first")
        config: dict[str, str | bool | int | float | list[str]] = {
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
        if threads:
            config["threads"] = threads
        self.connection = duckdb.connect(config=config)
        options = ["READ_ONLY"] if read_only else []
        if encryption_key is not None:
            self.connection.execute(f"LOAD '{_sql_text(str(httpfs_extension_path()))}'")
            options.append(f"ENCRYPTION_KEY '{_sql_text(encryption_key)}'")
        option_sql = f" ({', '.join(options)})" if options else ""
        try:
            self.connection.execute(f"ATTACH '{_sql_text(str(self.path))}' AS {_ALIAS}{option_sql}")
        except duckdb.Error as error:
            self.connection.close()
            raise StoreError(_explain_attach_error(self.path, error)) from error
        self.connection.execute(f"USE {_ALIAS}")
        if not read_only:
            chmod_owner_only(self.path)  # also when a library caller left the umask open
            self.ensure_schema()

    @classmethod
    def open(cls, settings: Settings, keyring: Keyring, *, read_only: bool = False) -> Store:
        key = keyring.store_key if settings.encrypt_store else None
        return cls(settings.resolved_store_path, encryption_key=key, read_only=read_only)

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ensure_schema(self) -> None:
        for table in TABLES.values():
            self.connection.execute(create_table_sql(table))

    def insert_new(self, table_name: str, frame: pd.DataFrame) -> int:
        """Insert the rows of ``frame`` whose key is not yet stored; returns how many were new.

        ``frame`` must have exactly the table's columns except optional lineage columns;
        values are cast to the declared SQL types (so bad types fail loudly here).
        """
        table = TABLES[table_name]
        if frame.empty:
            return 0
        unknown = set(frame.columns) - set(table.column_names)
        if unknown:
            raise StoreError(f"{table_name}: unknown columns {sorted(unknown)}")
        if not table.key_index:
            frame = frame.drop_duplicates(subset=list(table.key), keep="first")
        columns = [c for c in table.columns if c.name in frame.columns]
        select = ", ".join(f'CAST("{c.name}" AS {c.sql_type}) AS "{c.name}"' for c in columns)
        names = ", ".join(f'"{c.name}"' for c in columns)
        before = self.count(table_name)
        view = f"_incoming_{table_name}"
        self.connection.register(view, declared_arrow_table(frame, columns))
        try:
            self.connection.execute(insert_new_sql(table, names, select, view))
        finally:
            self.connection.unregister(view)
        return self.count(table_name) - before

    def quarantine(self, records: list[QuarantineRecord], cipher: FieldCipher) -> int:
        """Store rejected records (encrypted: they may hold personal data); returns new rows."""
        if not records:
            return 0
        now = datetime.now(UTC).replace(tzinfo=None)
        frame = pd.DataFrame(
            {
                "reader": [r.reader for r in records],
                "source_file": [r.source_file for r in records],
                "source_sha256": [r.source_sha256 for r in records],
                "source_line": [r.source_line for r in records],
                "reason": [r.reason[:2000] for r in records],
                "record_enc": [cipher.encrypt(r.record, column="record_enc") for r in records],
                "quarantined_at": [now] * len(records),
            }
        )
        return self.insert_new("quarantine", frame)

    def count(self, table_name: str) -> int:
        row = self.connection.execute(f'SELECT count(*) FROM "{table_name}"').fetchone()
        return int(row[0]) if row else 0

    def table_counts(self) -> dict[str, int]:
        """Rows per table of ``TABLES``; 0 for a table a read-only open of an older store
        does not hold yet (``ensure_schema`` adds it at the next writing open)."""
        present = set(
            self.query("SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [_ALIAS])[
                "table_name"
            ]
        )
        return {name: self.count(name) if name in present else 0 for name in TABLES}

    def query(self, sql: str, parameters: list[object] | None = None) -> pd.DataFrame:
        return self.connection.execute(sql, parameters or []).df()

    def checkpoint(self) -> None:
        if not self.read_only:
            self.connection.execute(f"CHECKPOINT {_ALIAS}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.connection.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")


def declared_arrow_table(frame: pd.DataFrame, columns: list[Column]) -> pa.Table:
    """``frame``'s ``columns`` as an Arrow table typed by the schema, never by the data.

    A column whose values do not convert to the declared type as they are (dates as text,
    timestamps finer than microseconds, numbers as text) is passed as text, so that the
    insert's ``CAST`` to the declared type judges each value and a bad one fails loudly.
    """
    arrays = [_declared_array(frame[column.name], column.sql_type) for column in columns]
    return pa.Table.from_arrays(arrays, names=[column.name for column in columns])


def _declared_array(series: pd.Series, sql_type: str) -> pa.Array:
    arrow_type = ARROW_TYPES.get(sql_type)
    if arrow_type is not None:
        try:
            return pa.array(series, type=arrow_type, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError):
            pass
    return pa.array(
        [None if _is_missing(value) else str(value) for value in series], type=pa.string()
    )


def _is_missing(value: object) -> bool:
    if isinstance(value, list | tuple | dict):
        return False
    try:
        return bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def _sql_text(value: str) -> str:
    """Escape a value for a single-quoted SQL literal (ATTACH takes no parameters)."""
    return value.replace("'", "''")


def _explain_attach_error(path: Path, error: duckdb.Error) -> str:
    text = str(error)
    if "lock" in text.lower():
        return (
            f"the store {path} is in use by another process (DuckDB allows one writer): "
            f"stop the service or open it read-only. ({text})"
        )
    if "encrypt" in text.lower() or "key" in text.lower():
        return f"cannot open {path} with the configured store key ({text})"
    return f"cannot open the store {path}: {text}"


def plaintext_present(path: Path, needles: list[str]) -> list[str]:
    """The needles found verbatim (UTF-8) in the database file and its WAL, for audits."""
    found: list[str] = []
    blobs = [path.read_bytes()]
    wal = Path(str(path) + ".wal")
    if wal.exists():
        blobs.append(wal.read_bytes())
    for needle in needles:
        encoded = needle.encode()
        if any(encoded in blob for blob in blobs):
            found.append(needle)
    return found


def remove_store(path: Path) -> None:
    for candidate in (path, Path(str(path) + ".wal")):
        if candidate.exists():
            os.remove(candidate)
