"""Ingestion: run a reader over a file, store what it accepts, quarantine what it rejects.

For every file: ``records_in == accepted + quarantined``, printed and kept in
``ingest_runs``. Re-ingesting a file adds nothing twice: rows are keyed (``schema``), and a
quarantined record is keyed by reader, file hash and line.

The report also says what was tolerated without rejecting anything: the text encoding the
reader detected and its warnings (message -> count: columns not mapped, derived ids,
unknown currencies ...); both are printed by ``lodestar ingest``. A reader that fails outside
any one record (a bug) never loses what it already read: the chunks read so far are kept and
the rest of the file is quarantined as one record (``source_line`` 0) naming the failure; so
does a chunk the store refuses. Each chunk is stored in its own transaction, so memory holds
one chunk, never a file.
"""

from __future__ import annotations

import gc
import importlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from core.security import PersonalData
from ingest.layout import standard_paths
from ingest.readers.common import ReadChunk, file_level_record, now_utc
from store.database import Store, StoreError, file_sha256
from store.queries import ingest as queries

logger = logging.getLogger(__name__)

Reader = Callable[[Path, PersonalData], Iterator[ReadChunk]]

# kind -> "module:function"; imported on use so one reader's import cost is paid only if used.
READERS: dict[str, str] = {
    "ocds": "ingest.readers.ocds:read_ocds",
    "audit_outcomes": "ingest.readers.audit:read_audit_outcomes",
    "xapi": "ingest.readers.xapi:read_xapi_statements",
    "catalogue": "ingest.readers.catalogue:read_catalogue",
    "knowledge_points": "ingest.readers.catalogue:read_knowledge_points",
    "members": "ingest.readers.members:read_members",
    "meeting_attendance": "ingest.readers.meetings:read_meeting_attendance",
    "supplier_register": "ingest.readers.suppliers:read_supplier_register",
    "supplier_certifications": "ingest.readers.suppliers:read_supplier_certifications",
    "supplier_events": "ingest.readers.suppliers:read_supplier_events",
    "feedback_reports": "ingest.readers.feedback:read_feedback_reports",
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
    source_sha256: str = ""
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def add(self, chunk: ReadChunk) -> None:
        self.source_sha256 = chunk.source_sha256 or self.source_sha256
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


@dataclass(frozen=True)
class StoredChunk:
    """What storing one chunk did: the rows new to the store per table (every column, as the
    store holds them), how many, and the procurement processes whose rows an updated release
    replaced (by ocid). ``touched_ocids``: processes with any new row (new, replaced or
    grown); ``inserted_ocids``: those whose ``processes`` row is new (a new process, or one
    replaced whole), so the chunk's new rows are all the store holds of them."""

    new_frames: dict[str, pd.DataFrame]
    new_rows: int
    replaced_ocids: tuple[str, ...] = ()

    @property
    def touched_ocids(self) -> tuple[str, ...]:
        ocids: set[str] = set()
        for table, frame in self.new_frames.items():
            if table in PROCUREMENT_TABLE_NAMES and "ocid" in frame.columns:
                ocids.update(frame["ocid"].astype(str))
        return tuple(sorted(ocids))

    @property
    def inserted_ocids(self) -> frozenset[str]:
        processes = self.new_frames.get("processes")
        return frozenset() if processes is None else frozenset(processes["ocid"].astype(str))


# The procurement tables of the OCDS reader (``ingest.readers.ocds.TABLE_COLUMNS``): every
# one has ``ocid`` first in its key, and ``processes`` holds one row per process.
PROCUREMENT_TABLE_NAMES = (
    "processes",
    "lots",
    "items",
    "bids",
    "awards",
    "contracts",
    "amendments",
    "milestones",
    "transactions",
    "parties",
)


NOT_NEWER_WARNING = "releases of processes stored with the same or a later date: kept as stored"


def store_chunk(
    store: Store, personal: PersonalData, chunk: ReadChunk, *, keep_new_rows: bool = True
) -> StoredChunk:
    """Store one reader chunk in the caller's transaction: its quarantine records, and of its
    rows those whose key is not stored yet (the first of equal keys wins, as
    ``Store.insert_new``); ``new_frames`` holds them as stored (``insert_new_returning``),
    or nothing without ``keep_new_rows`` (the same rows stored, only counted).

    A process whose chunk release is dated later than the stored one (``release_date``; a
    stored NULL counts as earlier) is replaced whole: its rows in every procurement table are
    deleted first, so the store holds each process as its latest release says, never a mix.
    A release dated the same as or earlier than the stored one is not stored (a re-post adds
    nothing; a late older release cannot mix into a newer one) and counted as a warning."""
    chunk.check()
    replaced, kept = _replace_updated_processes(store, chunk.tables.get("processes"))
    new_frames: dict[str, pd.DataFrame] = {}
    new_rows = 0
    for table_name, frame in chunk.tables.items():
        if kept and table_name in PROCUREMENT_TABLE_NAMES:
            frame = frame[~frame["ocid"].astype(str).isin(kept)]
        if not keep_new_rows:
            new_rows += queries.insert_new_counted(store.connection, table_name, frame)
            continue
        inserted = queries.insert_new_returning(store.connection, table_name, frame)
        new_rows += len(inserted)
        if not inserted.empty:
            new_frames[table_name] = inserted
    store.quarantine(chunk.quarantined, personal.cipher)
    if kept:
        chunk.warnings[NOT_NEWER_WARNING] += len(kept)
    return StoredChunk(new_frames=new_frames, new_rows=new_rows, replaced_ocids=replaced)


def _replace_updated_processes(
    store: Store, processes: pd.DataFrame | None
) -> tuple[tuple[str, ...], frozenset[str]]:
    """(the processes whose incoming release is dated later than the stored one, their stored
    rows now deleted; the stored processes whose incoming release is not later)."""
    if processes is None or processes.empty:
        return (), frozenset()
    incoming = pd.DataFrame(
        {
            "ocid": processes["ocid"].astype(str),
            "release_date": pd.to_datetime(processes["release_date"], errors="coerce"),
        }
    )
    latest = incoming.groupby("ocid", sort=True)["release_date"].max().reset_index()
    replaced, kept = queries.replace_updated_processes(
        store.connection, latest, PROCUREMENT_TABLE_NAMES
    )
    return tuple(replaced), frozenset(kept)


# What the store raises for a chunk it refuses (a reader bug the schema catches).
STORE_FAILURES: tuple[type[Exception], ...] = (
    duckdb.Error,
    StoreError,
    ValueError,
    TypeError,
    AssertionError,
)


# Opens the store for one chunk and closes it after: the command line's open store as it is
# (``contextlib.nullcontext``); the service's ``SharedStore.use`` (its lock, held per chunk).
StoreAccess = Callable[[], AbstractContextManager[Store]]


@dataclass(frozen=True)
class CommittedChunk:
    """One chunk of a run, committed: the chunk as counted (a refused chunk's stand-in when
    the store refused it), what storing did, ``time.perf_counter()`` at its commit (when its
    rows are ingested), and the seconds of reading it and of storing it (waiting for the
    store included)."""

    chunk: ReadChunk
    stored: StoredChunk
    committed_at: float
    read_seconds: float
    store_seconds: float


def _commit(
    access: StoreAccess, personal: PersonalData, chunk: ReadChunk, keep_new_rows: bool
) -> StoredChunk:
    """Store ``chunk`` in its own transaction, then pace the store's automatic checkpoints to
    its size (``queries.pace_checkpoints``: a fixed log threshold made a file's checkpoints
    cost quadratic time in its rows)."""
    with access() as store:
        with store.transaction():
            stored = store_chunk(store, personal, chunk, keep_new_rows=keep_new_rows)
        queries.pace_checkpoints(store.connection)
        return stored


def ingest_run(
    access: StoreAccess,
    personal: PersonalData,
    kind: str,
    path: Path,
    *,
    source_file: str | None = None,
    after_commit: Callable[[CommittedChunk], None] | None = None,
    keep_new_rows: bool = True,
) -> IngestReport:
    """Read ``path`` with the reader for ``kind`` and store it chunk by chunk, each chunk in
    its own transaction, so that memory holds one chunk however large the file: a
    transaction's uncommitted rows and their key index stay in memory until it commits. The
    command line and the service both run this loop; ``after_commit`` gets each committed
    chunk (the service pushes it to its live state there), outside the store. A chunk the
    store refuses is rolled back and the rest of the file is quarantined as one record
    (``source_line`` 0); what was committed before stays (re-ingesting the file adds nothing
    twice). ``ingest_runs`` gets the run's row at the end; ``source_file`` names the file
    there (default: ``path``). Without ``keep_new_rows`` the committed chunks carry no new
    rows (``StoredChunk.new_frames`` empty; ``new_rows`` still counted)."""
    path = Path(path)
    report = IngestReport(kind=kind, source_file=source_file or str(path))
    chunks = read_chunks(kind, path, personal)
    started = time.perf_counter()
    started_at = now_utc()
    while True:
        reading = time.perf_counter()
        chunk = next(chunks, None)
        storing = time.perf_counter()
        if chunk is None:
            break
        try:
            stored = _commit(access, personal, chunk, keep_new_rows)
        except STORE_FAILURES as error:
            logger.warning("%s %s: a chunk could not be stored", kind, path.name, exc_info=True)
            chunks.close()
            chunk = rest_of_file_chunk(kind, path, report.records_in, "storing", error)
            stored = _commit(access, personal, chunk, keep_new_rows)
        committed_at = time.perf_counter()
        report.new_rows += stored.new_rows
        report.add(chunk)
        if after_commit is not None:
            after_commit(
                CommittedChunk(
                    chunk, stored, committed_at, storing - reading, committed_at - storing
                )
            )
    report.seconds = time.perf_counter() - started
    with access() as store:
        store.insert_new("ingest_runs", run_row(report, started_at))
    return report


def ingest_file(
    store: Store,
    personal: PersonalData,
    kind: str,
    path: Path,
    *,
    on_chunk: Callable[[int], None] | None = None,
) -> IngestReport:
    """``ingest_run`` on an open store (the command line's); ``on_chunk`` gets the records
    of each chunk as it is committed (progress). The new rows are counted, not kept, and
    the garbage collector runs once per chunk (``collected_per_chunk``)."""

    def counted(committed: CommittedChunk) -> None:
        gc.collect()
        if on_chunk is not None:
            on_chunk(committed.chunk.records_in)

    with collected_per_chunk():
        return ingest_run(
            lambda: nullcontext(store),
            personal,
            kind,
            path,
            after_commit=counted,
            keep_new_rows=False,
        )


@contextmanager
def collected_per_chunk() -> Iterator[None]:
    """Run without automatic garbage collection (the caller collects once per chunk): a
    reader allocates a few container objects per field of every record, each of which
    counts towards the collector's thresholds, and the oldest generation's collections
    would traverse every chunk row held so far, again and again. What is alive before is
    frozen (never traversed) until the end. Process-wide, so for the command line only;
    the service's ingestion (``ingest_run`` in a thread) leaves the collector alone."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def read_chunks(kind: str, path: Path, personal: PersonalData) -> Generator[ReadChunk, None, None]:
    """The chunks of ``path`` read by the reader for ``kind``; a reader failure becomes a
    last chunk quarantining the rest of the file (``UnknownReaderError``,
    ``FileNotFoundError`` before any reading)."""
    reader = get_reader(kind)
    if not path.exists():
        raise FileNotFoundError(f"{kind}: no such file {path}")
    return _chunks_or_failure(reader(path, personal), kind, path)


def _chunks_or_failure(
    chunks: Iterator[ReadChunk], kind: str, path: Path
) -> Generator[ReadChunk, None, None]:
    """The reader's chunks; if it fails outside a record, one more chunk quarantining the rest
    of the file as one record, so what was read is kept and the counts still add up."""
    read = 0
    try:
        for chunk in chunks:
            read += chunk.records_in
            yield chunk
    except Exception as error:  # a reader bug must not lose the good rows
        yield rest_of_file_chunk(kind, path, read, "reader", error)


def rest_of_file_chunk(kind: str, path: Path, read: int, stage: str, error: Exception) -> ReadChunk:
    """One quarantined record (line 0) standing for the rest of ``path`` after ``stage``
    ("reader", "storing") failed with ``error`` past ``read`` records: the counts still add
    up and what came before is kept."""
    sha256 = file_sha256(path)
    reason = (
        f"{stage} failed after {read:,} record(s) ({type(error).__name__}); "
        "the rest of the file is this one record"
    )
    chunk = ReadChunk(kind, path.name, sha256, records_in=1)
    chunk.quarantined.append(file_level_record(kind, path, sha256, reason))
    chunk.warnings[f"{stage} failed: {type(error).__name__}; see quarantine line 0"] += 1
    return chunk


def run_row(report: IngestReport, started_at: object) -> pd.DataFrame:
    """The ``ingest_runs`` row of ``report``."""
    return pd.DataFrame(
        [
            {
                "run_id": report.run_id,
                "reader": report.kind,
                "source_file": report.source_file,
                "source_sha256": report.source_sha256,
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
    """Ingest every file of a folder in the standard layout (``ingest.layout``)."""
    reports = []
    for kind, path in standard_paths(Path(world_dir)):
        if not path.exists():
            continue
        on_chunk = on_file(kind, path) if on_file else None
        reports.append(ingest_file(store, personal, kind, path, on_chunk=on_chunk))
    store.checkpoint()
    return reports
