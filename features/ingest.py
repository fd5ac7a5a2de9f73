"""Ingestion: run a reader over a file, store what it accepts, quarantine what it rejects.

For every file: ``records_in == accepted + quarantined``, printed and kept in
``ingest_runs``. Re-ingesting a file adds nothing twice: rows are keyed (``schema``), and a
quarantined record is keyed by reader, file hash and line.

The report also says what was tolerated without rejecting anything: the text encoding the
reader detected and its warnings (message -> count: columns not mapped, derived ids,
unknown currencies ...); both are printed by ``lodestar ingest``. A reader that fails outside
any one record (a bug) never loses what it already read: the chunks read so far are kept and
the rest of the file is quarantined as one record (``source_line`` 0) naming the failure.
"""

from __future__ import annotations

import importlib
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.readers.common import ReadChunk, file_level_record, now_utc
from features.security import PersonalData
from features.store import Store, file_sha256
from features.world.layout import world_paths

Reader = Callable[[Path, PersonalData], Iterator[ReadChunk]]

# kind -> "module:function"; imported on use so one reader's import cost is paid only if used.
READERS: dict[str, str] = {
    "ocds": "features.readers.ocds:read_ocds",
    "audit_outcomes": "features.readers.audit:read_audit_outcomes",
    "xapi": "features.readers.xapi:read_xapi_statements",
    "catalogue": "features.readers.catalogue:read_catalogue",
    "knowledge_points": "features.readers.catalogue:read_knowledge_points",
    "members": "features.readers.members:read_members",
    "supplier_register": "features.readers.suppliers:read_supplier_register",
    "supplier_certifications": "features.readers.suppliers:read_supplier_certifications",
    "supplier_events": "features.readers.suppliers:read_supplier_events",
}


class UnknownReaderError(ValueError):
    pass


def get_reader(kind: str) -> Reader:
    target = READERS.get(kind)
    if target is None:
        raise UnknownReaderError(
            f"unknown input kind {kind!r}; known: {', '.join(sorted(READERS))}"
        )
    module_name, function_name = target.split(":")
    reader: Reader = getattr(importlib.import_module(module_name), function_name)
    return reader


@dataclass
class IngestReport:
    """The counts for one file; ``records_in == accepted + quarantined`` always."""

    kind: str
    source_file: str
    records_in: int = 0
    accepted: int = 0
    quarantined: int = 0
    new_rows: int = 0
    seconds: float = 0.0
    encoding: str | None = None
    warnings: Counter[str] = field(default_factory=Counter)

    def add(self, chunk: ReadChunk) -> None:
        self.records_in += chunk.records_in
        self.accepted += chunk.accepted
        self.quarantined += len(chunk.quarantined)
        self.encoding = chunk.encoding or self.encoding
        self.warnings.update(chunk.warnings)

    def __str__(self) -> str:
        rate = self.records_in / self.seconds if self.seconds else 0.0
        lines = [
            f"{self.kind:<24} {Path(self.source_file).name:<40} in {self.records_in:>9,} = "
            f"accepted {self.accepted:>9,} + quarantined {self.quarantined:>7,}   "
            f"(new rows {self.new_rows:,}; {rate:,.0f} records/s)"
        ]
        if self.encoding is not None:
            lines.append(f"{'':<24} encoding: {self.encoding}")
        lines += [
            f"{'':<24} warning: {message}" + (f" (x{count:,})" if count > 1 else "")
            for message, count in sorted(self.warnings.items())
        ]
        return "\n".join(lines)


def ingest_file(
    store: Store,
    personal: PersonalData,
    kind: str,
    path: Path,
    *,
    on_chunk: Callable[[int], None] | None = None,
) -> IngestReport:
    """Read ``path`` with the reader for ``kind`` and store the result in one transaction."""
    reader = get_reader(kind)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{kind}: no such file {path}")
    report = IngestReport(kind=kind, source_file=str(path))
    started = time.perf_counter()
    started_at = now_utc()
    source_sha256 = ""
    with store.transaction():
        for chunk in _chunks_or_failure(reader(path, personal), kind, path):
            chunk.check()
            source_sha256 = chunk.source_sha256
            report.add(chunk)
            for table_name, frame in chunk.tables.items():
                report.new_rows += store.insert_new(table_name, frame)
            store.quarantine(chunk.quarantined, personal.cipher)
            if on_chunk is not None:
                on_chunk(chunk.records_in)
        report.seconds = time.perf_counter() - started
        store.insert_new("ingest_runs", _run_row(report, source_sha256, started_at))
    return report


def _chunks_or_failure(chunks: Iterator[ReadChunk], kind: str, path: Path) -> Iterator[ReadChunk]:
    """The reader's chunks; if it fails outside a record, one more chunk quarantining the rest
    of the file as one record, so what was read is kept and the counts still add up."""
    read = 0
    try:
        for chunk in chunks:
            read += chunk.records_in
            yield chunk
    except Exception as error:  # a reader bug must not lose the good rows
        sha256 = file_sha256(path)
        reason = (
            f"reader failed after {read:,} record(s) ({type(error).__name__}); "
            "the rest of the file is this one record"
        )
        chunk = ReadChunk(kind, path.name, sha256, records_in=1)
        chunk.quarantined.append(file_level_record(kind, path, sha256, reason))
        chunk.warnings[f"reader failed: {type(error).__name__}; see quarantine line 0"] += 1
        yield chunk


def _run_row(report: IngestReport, source_sha256: str, started_at: object) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "run_id": uuid.uuid4().hex,
                "reader": report.kind,
                "source_file": report.source_file,
                "source_sha256": source_sha256,
                "records_in": report.records_in,
                "accepted": report.accepted,
                "quarantined": report.quarantined,
                "new_rows": report.new_rows,
                "started_at": started_at,
                "seconds": report.seconds,
            }
        ]
    )


def ingest_world(
    store: Store,
    personal: PersonalData,
    world_dir: Path,
    *,
    on_file: Callable[[str, Path], Callable[[int], None] | None] | None = None,
) -> list[IngestReport]:
    """Ingest every file of a demo-world folder (or a real one laid out the same way)."""
    reports = []
    for kind, path in world_paths(Path(world_dir)):
        if not path.exists():
            continue
        on_chunk = on_file(kind, path) if on_file else None
        reports.append(ingest_file(store, personal, kind, path, on_chunk=on_chunk))
    store.checkpoint()
    return reports
