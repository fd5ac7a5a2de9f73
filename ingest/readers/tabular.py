"""What every tabular reader shares: CSV records with their physical line numbers and raw text
(``iter_csv_records``), typed frames that match ``store.schema`` (``RowBuffer``), and the
chunking loop that keeps ``records_in == accepted + quarantined`` (``read_chunks``).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from operator import itemgetter
from pathlib import Path

import pandas as pd
import pyarrow as pa

from ingest.readers.columns import ColumnMapError, map_header
from ingest.readers.common import (
    CHUNK_RECORDS,
    FILE_LEVEL_LINE,
    FileLevelError,
    FileNotes,
    ReadChunk,
    RecordError,
    decoded_lines,
    detect_encoding,
    encoding_label,
    file_text,
    line_text,
    now_utc,
)
from ingest.readers.first_lines import FirstLines
from store.database import QuarantineRecord, file_sha256
from store.schema import LINEAGE_COLUMNS, TABLES

CSV_FIELD_MAX_CHARS = 16 << 20  # csv's default limit (128 KiB) would refuse long descriptions


class _LineTap:
    """Feeds ``csv.reader`` decoded lines and remembers the raw text of the current record."""

    def __init__(self, lines: Iterable[tuple[str, bool]]) -> None:
        self._lines = lines
        self.pending: list[str] = []
        self.undecodable = False

    def __iter__(self) -> Iterator[str]:
        for text, clean in self._lines:
            self.undecodable |= not clean
            self.pending.append(text)
            yield text

    def take(self) -> tuple[str, bool]:
        """The raw text of the record just parsed, and whether any of it did not decode."""
        raw = "".join(self.pending).rstrip("\r\n")
        undecodable = self.undecodable
        self.pending.clear()
        self.undecodable = False
        return raw, undecodable


def iter_csv_records(
    path: Path,
    column_map: dict[str, str],
    *,
    required: Iterable[str],
    notes: FileNotes | None = None,
) -> Iterator[tuple[int, str, dict[str, str] | RecordError]]:
    """Yield ``(first_line_no, raw_text, {column: stripped text} or RecordError)`` per record.

    The encoding is detected (``common.detect_encoding``) and, with the headers not mapped,
    written to ``notes`` for the run's report. Line numbers are physical and 1-based (a
    quoted field may span lines; the record is numbered by its first line). Blank lines are
    not records. A record with a different number of fields than the header, malformed
    quoting or bytes that do not decode comes back as a ``RecordError``; the file goes on.
    A file that cannot be decoded, or whose header lacks a required column, comes back as
    ONE ``RecordError`` record at line ``FILE_LEVEL_LINE`` holding the file's text.
    """
    notes = notes if notes is not None else FileNotes()
    try:
        codec = detect_encoding(path)
    except FileLevelError as undecodable_file:
        reason = f"file not read: {undecodable_file}"
        yield FILE_LEVEL_LINE, file_text(path, None), RecordError(reason)
        return
    notes.encoding = encoding_label(codec)
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_MAX_CHARS))
    tap = _LineTap(decoded_lines(path, codec))
    reader = csv.reader(tap, strict=True)
    mapped: list[str | None] | None = None
    last_line = 0
    while True:
        try:
            row = next(reader)
            error: RecordError | None = None
        except StopIteration:
            return
        except csv.Error as exc:
            row, error = [], RecordError(f"malformed CSV: {exc}")
        first_line, last_line = last_line + 1, reader.line_num
        raw, undecodable = tap.take()
        if error is None and not any(field.strip() for field in row):
            continue
        if mapped is None and error is None and not undecodable:
            try:
                mapped, warnings = map_header(row, column_map, required=required, source=path.name)
            except ColumnMapError as map_error:
                yield FILE_LEVEL_LINE, file_text(path, codec), RecordError(str(map_error))
                return
            for warning in warnings:
                notes.warn(warning)
            continue
        if error is None and undecodable:
            error = RecordError(f"not {encoding_label(codec).removesuffix(' with BOM')}")
        if error is None and mapped is not None and len(row) != len(mapped):
            error = RecordError(f"expected {len(mapped)} fields, got {len(row)}")
        if error is not None or mapped is None:
            yield first_line, raw, error or RecordError("no header before the first record")
            continue
        values = {
            column: field.strip() for column, field in zip(mapped, row, strict=True) if column
        }
        yield first_line, raw, values


_ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "VARCHAR[]": pa.list_(pa.string()),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "TIMESTAMP": pa.timestamp("us"),
    "DATE": pa.date32(),
    "BLOB": pa.binary(),
}


class RowBuffer:
    """Rows for one schema table, as tuples in the table's column order without lineage.

    ``frame()`` transposes them into Arrow-backed columns typed from ``store.schema``
    (much faster to build and for DuckDB to scan than object columns) and adds the lineage
    columns: ``source_file``, ``source_line`` and one ``ingested_at`` for the whole chunk.
    """

    def __init__(self, table_name: str, source_file: str) -> None:
        self.table = TABLES[table_name]
        self.value_columns = [c for c in self.table.columns if c.name not in LINEAGE_COLUMNS]
        self.source_file = source_file
        self.rows: list[tuple[object, ...]] = []
        self.lines: list[int] = []

    def __len__(self) -> int:
        return len(self.rows)

    def append(self, values: tuple[object, ...], line_no: int) -> None:
        self.rows.append(values)
        self.lines.append(line_no)

    def frame(self, ingested_at: datetime) -> pd.DataFrame:
        arrays: dict[str, pa.Array] = {}
        columns = zip(*self.rows, strict=True) if self.rows else ((),) * len(self.value_columns)
        for column, values in zip(self.value_columns, columns, strict=True):
            arrays[column.name] = pa.array(values, type=_ARROW_TYPES[column.sql_type])
        count = len(self.rows)
        arrays["source_file"] = pa.array([self.source_file] * count, type=pa.string())
        arrays["source_line"] = pa.array(self.lines, type=pa.int64())
        arrays["ingested_at"] = pa.array([ingested_at] * count, type=pa.timestamp("us"))
        return pd.DataFrame(
            {name: pd.arrays.ArrowExtensionArray(arrays[name]) for name in self.table.column_names}
        )

    def clear(self) -> None:
        self.rows.clear()
        self.lines.clear()


def schema_frame(table_name: str, rows: list[tuple[object, ...]]) -> pd.DataFrame:
    """Rows holding every column of the table (lineage last, in ``store.schema`` order) as
    a frame typed from the schema, never from the data: an INTEGER column with nulls stays
    integers with nulls, and a column that is all null keeps its type."""
    table = TABLES[table_name]
    columns = zip(*rows, strict=True) if rows else ((),) * len(table.columns)
    return pd.DataFrame(
        {
            column.name: pd.arrays.ArrowExtensionArray(
                pa.array(values, type=_ARROW_TYPES[column.sql_type])
            )
            for column, values in zip(table.columns, columns, strict=True)
        }
    )


RowParser = Callable[[object], tuple[object, ...]]


def read_chunks(
    reader: str,
    path: Path,
    table_name: str,
    records: Iterable[tuple[int, str | bytes, object]],
    parse_row: RowParser,
    *,
    explain: Callable[[str, RecordError], RecordError] | None = None,
    notes: FileNotes | None = None,
) -> Iterator[ReadChunk]:
    """Turn ``(line_no, raw, parsed or RecordError)`` records into chunks for one table
    (``raw``: text, or UTF-8 bytes decoded by ``line_text`` if the record is quarantined).

        Each source record yields one row or one quarantined record, so every chunk satisfies
        ``records_in == accepted + len(quarantined)``. A record whose table key repeats an
        earlier record of the same file is quarantined as a duplicate (the store would keep only
        the first silently). Any other exception raised by ``parse_row`` quarantines its record
        (reason: the exception's type; its message is withheld as it may quote personal values),
        so a reader's bug costs one record, never the file's good rows. At least one chunk is
        yielded, so an empty file is still recorded. ``explain(raw, error)`` may replace the
        reason of a record that could not be decoded. ``notes`` (encoding, warnings) are moved
        into the chunks.
    """
    notes = notes if notes is not None else FileNotes()
    source_sha256 = file_sha256(path)
    buffer = RowBuffer(table_name, path.name)
    key_of = itemgetter(
        *(index for index, c in enumerate(buffer.value_columns) if c.name in buffer.table.key)
    )
    key_names = "/".join(buffer.table.key)
    first_seen = FirstLines()
    rows, lines = buffer.rows, buffer.lines  # cleared in place between chunks
    quarantined: list[QuarantineRecord] = []
    yielded = False
    for line_no, raw, parsed in records:
        try:
            if isinstance(parsed, RecordError):
                raise parsed if explain is None else explain(line_text(raw), parsed)
            values = parse_row(parsed)
            key = key_of(values)
            earlier = first_seen.first_line(key, line_no)
            if earlier != line_no:
                shown = "/".join(map(str, key)) if isinstance(key, tuple) else key
                raise RecordError(f"duplicate {key_names} {shown} (first at line {earlier})")
        except RecordError as error:
            quarantined.append(
                QuarantineRecord(
                    reader, path.name, source_sha256, line_no, str(error), line_text(raw)
                )
            )
        except Exception as error:  # one record must not cost the file
            reason = f"reader failed on this record ({type(error).__name__})"
            quarantined.append(
                QuarantineRecord(reader, path.name, source_sha256, line_no, reason, line_text(raw))
            )
        else:
            rows.append(values)
            lines.append(line_no)
        if len(rows) + len(quarantined) >= CHUNK_RECORDS:
            chunk = ReadChunk(reader, path.name, source_sha256)
            yield _finish(notes.fill(chunk), buffer, quarantined)
            quarantined = []
            yielded = True
    if rows or quarantined or not yielded or notes.warnings:
        chunk = ReadChunk(reader, path.name, source_sha256)
        yield _finish(notes.fill(chunk), buffer, quarantined)


def read_csv_chunks(
    reader: str,
    path: Path,
    table_name: str,
    column_map: dict[str, str],
    parse_row: RowParser,
    *,
    required: Iterable[str],
) -> Iterator[ReadChunk]:
    """``read_chunks`` over ``iter_csv_records``: the one way a CSV file becomes chunks, with
    the encoding detected and the unmapped columns reported in the chunks."""
    notes = FileNotes()
    records = iter_csv_records(path, column_map, required=required, notes=notes)
    yield from read_chunks(reader, path, table_name, records, parse_row, notes=notes)


def _finish(chunk: ReadChunk, buffer: RowBuffer, quarantined: list[QuarantineRecord]) -> ReadChunk:
    """Fill ``chunk`` with the buffered rows and the quarantined records, and empty the buffer."""
    chunk.accepted = len(buffer)
    chunk.quarantined = quarantined
    chunk.records_in = chunk.accepted + len(quarantined)
    if chunk.accepted:
        chunk.tables[buffer.table.name] = buffer.frame(now_utc())
    buffer.clear()
    return chunk


def split_list(text: str, separators: str) -> list[str]:
    """Split ``text`` on any of ``separators``; trimmed, empties and repeats dropped, order kept."""
    for separator in separators[1:]:
        text = text.replace(separator, separators[0])
    parts = (part.strip() for part in text.split(separators[0]))
    return list(dict.fromkeys(part for part in parts if part))
