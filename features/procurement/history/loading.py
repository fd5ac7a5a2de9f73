"""Reading the procurement tables and the supplier register into process records."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.procurement.history.records import ProcessRecord
from ingest.readers.ocds import TABLE_COLUMNS
from store.database import StoreReader
from store.queries.feedback import read_linked_reports

PROCUREMENT_TABLES = tuple(TABLE_COLUMNS)


# Columns never needed for features: selected as NULL so that no ciphertext or free text is
# loaded (the positions stay those of ``TABLE_COLUMNS``, shared with the OCDS flattener).
_UNUSED_COLUMNS = frozenset(
    {
        ("processes", "buyer_name"),
        ("processes", "title"),
        ("amendments", "rationale"),
        ("amendments", "description"),
        ("milestones", "description"),
        ("parties", "name"),
        ("parties", "identifier_scheme"),
        ("parties", "identifier_id"),
        ("parties", "address_locality"),
        ("parties", "address_region"),
        ("parties", "contact_name_enc"),
        ("parties", "contact_phone_enc"),
    }
)
SUPPLIER_COLUMNS = (
    "supplier_id",
    "phone_fingerprint",
    "address_fingerprint",
    "legal_representative_fingerprint",
    "bank_account_fingerprint",
)


def _select_list(table: str) -> str:
    return ", ".join(
        f'NULL AS "{name}"' if (table, name) in _UNUSED_COLUMNS else f'"{name}"'
        for name in TABLE_COLUMNS[table]
    )


def _table_query(table: str) -> str:
    return f'SELECT {_select_list(table)} FROM "{table}" ORDER BY ocid'


_SUPPLIER_QUERY = f"SELECT {', '.join(SUPPLIER_COLUMNS)} FROM suppliers ORDER BY supplier_id"


REPORTS_TABLE = "feedback_reports"


def load_procurement_frames(store: StoreReader) -> dict[str, pd.DataFrame]:
    """The procurement tables (columns of ``TABLE_COLUMNS``; unused text and ciphertext as
    NULL), the supplier register's fingerprints and the members' reports linked to a process
    or supplier (``feedback_reports``: ``store.queries.feedback.linked_reports``' columns), as
    frames."""
    frames = {table: store.query(_table_query(table)) for table in PROCUREMENT_TABLES}
    frames["suppliers"] = store.query(_SUPPLIER_QUERY)
    frames[REPORTS_TABLE] = read_linked_reports(store)
    return frames


def load_process_frames(store: StoreReader, ocids: Sequence[str]) -> dict[str, pd.DataFrame]:
    """The whole stored rows of the processes ``ocids`` in every procurement table (columns
    as ``load_procurement_frames``): what to push after an insert touched them, since a push
    carries each process whole."""
    wanted = sorted({str(ocid) for ocid in ocids})
    return {
        table: store.query(
            f'SELECT {_select_list(table)} FROM "{table}" '
            "WHERE ocid IN (SELECT unnest(?::VARCHAR[])) ORDER BY ocid",
            [wanted],
        )
        for table in PROCUREMENT_TABLES
    }


class _RowGrouper:
    """Table rows grouped by ocid as plain tuples (dates as ns integers, missing as ``None``,
    repeated text shared), one table at a time so that at most one frame is alive."""

    def __init__(self, *, digests: bool = True) -> None:
        self.digests = digests
        self.rows: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
        self.order: list[str] = []
        self.ignored_rows = 0
        self._texts: dict[str, str] = {}

    def _text(self, value: str) -> str:
        return self._texts.setdefault(value, value)

    def _column(self, series: pd.Series) -> list[Any]:
        """The column as plain values. Per value only where the value needs it (text to
        share, a list to freeze, a missing value to make ``None``): a pandas operation per
        column costs more than the few rows of a pushed chunk."""
        dtype = series.dtype
        if pd.api.types.is_datetime64_any_dtype(dtype):
            values = series.to_numpy(dtype="datetime64[ns]")
            missing = np.isnat(values)
            return [
                None if gone else int(v)
                for v, gone in zip(values.astype(np.int64).tolist(), missing.tolist(), strict=True)
            ]
        if pd.api.types.is_float_dtype(dtype):
            return series.tolist()
        if isinstance(dtype, np.dtype) and dtype.kind in "iub":
            return series.to_numpy().tolist()  # numpy ints and booleans hold no missing value
        if not (
            isinstance(dtype, pd.StringDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "O")
        ):
            series = series.astype(object).where(series.notna(), None)
        plain = []
        text = self._text
        for value in series.tolist():
            if isinstance(value, str):
                value = text(value)
            elif isinstance(value, (list, tuple, np.ndarray)):
                value = tuple(text(str(v)) for v in value)
            elif value is None or value is pd.NA or value is pd.NaT:
                value = None
            elif isinstance(value, float) and value != value:
                value = None  # NaN
            plain.append(value)
        return plain

    def add(self, table: str, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        columns = [
            self._column(frame[name])
            if name in frame.columns and (table, name) not in _UNUSED_COLUMNS
            else [None] * len(frame)
            for name in TABLE_COLUMNS[table]
        ]
        if table == "processes":
            self.order = list(dict.fromkeys(str(ocid) for ocid in columns[0]))
        for row in zip(*columns, strict=True):
            self.rows.setdefault(str(row[0]), {}).setdefault(table, []).append(row)

    def records(self) -> list[ProcessRecord]:
        """One record per process, in the order of the processes table (rows of other tables
        without a process are ignored); the grouped rows are released as records are made."""
        records = []
        for ocid in self.order:
            rows = self.rows.pop(ocid)
            rows["processes"] = rows["processes"][:1]
            records.append(ProcessRecord(rows, digest=self.digests))
        self.ignored_rows = sum(
            len(rows) for tables in self.rows.values() for rows in tables.values()
        )
        self.rows.clear()
        return records


def records_and_ignored_rows(
    frames: Mapping[str, pd.DataFrame], *, digests: bool = True
) -> tuple[list[ProcessRecord], int]:
    """``records_from_frames``, and how many rows of the other procurement tables belong to
    no process of ``frames["processes"]`` (not in any record)."""
    grouper = _RowGrouper(digests=digests)
    for table in PROCUREMENT_TABLES:
        frame = frames.get(table)
        if frame is not None:
            grouper.add(table, frame)
    return grouper.records(), grouper.ignored_rows


def records_from_frames(
    frames: Mapping[str, pd.DataFrame], *, digests: bool = True
) -> list[ProcessRecord]:
    """One ``ProcessRecord`` per process of ``frames["processes"]`` (in that order);
    ``digests=False``: without their row digests (``ProcessRecord.digest`` None)."""
    return records_and_ignored_rows(frames, digests=digests)[0]


def records_from_store(store: StoreReader) -> list[ProcessRecord]:
    """``records_from_frames`` reading one table at a time (peak memory: one frame)."""
    grouper = _RowGrouper()
    for table in PROCUREMENT_TABLES:
        grouper.add(table, store.query(_table_query(table)))
    return grouper.records()


PROCESSES_PER_CHUNK = 20_000
"""Processes read into records at a time by ``record_chunks`` (bounds a batch build's memory
whatever the store's size)."""


def ocid_ranges(store: StoreReader, size: int = PROCESSES_PER_CHUNK) -> list[tuple[str, str]]:
    """``(first, last)`` ocids of consecutive runs of ``size`` processes in ocid order."""
    ocids = store.query("SELECT ocid FROM processes ORDER BY ocid")["ocid"].tolist()
    return [
        (str(ocids[k]), str(ocids[min(k + size, len(ocids)) - 1]))
        for k in range(0, len(ocids), size)
    ]


def load_range_frames(store: StoreReader, first: str, last: str) -> dict[str, pd.DataFrame]:
    """The rows of every procurement table whose ocid is in ``[first, last]`` (columns as
    ``load_procurement_frames``)."""
    return {
        table: store.query(
            f'SELECT {_select_list(table)} FROM "{table}" WHERE ocid BETWEEN ? AND ? ORDER BY ocid',
            [first, last],
        )
        for table in PROCUREMENT_TABLES
    }


def record_chunks(
    store: StoreReader, size: int = PROCESSES_PER_CHUNK, *, digests: bool = True
) -> Iterator[list[ProcessRecord]]:
    """The records of ``records_from_store``, in the same order, ``size`` processes at a time
    (one chunk's rows and records in memory at once; a store sorted or nearly sorted by ocid,
    as ingestion writes it, is read once in all); ``digests`` as ``records_from_frames``."""
    for first, last in ocid_ranges(store, size):
        yield records_from_frames(load_range_frames(store, first, last), digests=digests)
