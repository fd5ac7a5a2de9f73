"""Ingestion through the running service: a pushed file is spooled to disk, read by the same
readers as ``lodestar ingest``, stored chunk by chunk, and each chunk's new rows pushed to the
live state.

Spool. The body is streamed to ``<data_dir>/ingest-spool/<random>/<file name>`` (folder 700,
file 600: it may hold personal data) and never held in memory whole; the folder is removed
when the run ends, stored or not.

Store. The service is the store's one writer (``serving.platform.shared_store.SharedStore``).
The file runs through the command line's loop (``ingest.run.ingest_run``): the reader runs in
a worker thread (``anyio.to_thread``) outside the store lock; each chunk is stored in its own
transaction under the lock (``ingest.run.store_chunk``), so requests go on between chunks.
``ingest_runs`` gets the run's row at the end with ``in = accepted + quarantined``. A chunk
the store refuses (a reader bug the schema catches) is rolled back and the rest of the file is
quarantined as one record (``source_line`` 0), as a reader failure is: the counts still add up
and nothing is a 500.

Live state. After a chunk is committed, ``push_to_live_state`` gets what it stored: the whole
stored rows of the procurement processes it touched (the insert's returned rows,
``live_frames``: no read-back) and, for every other table, its new rows (store columns). It
pushes them to ``app.state.procurement`` (the procurement history and warnings) and to each
callable in ``app.state.online_push`` (the hook other online sources register into:
``OnlinePush``). A push that fails is logged and named in the answer; the rows stay stored,
and the next start reads them.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
import unicodedata
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
import pandas as pd

from core.security import PersonalData
from core.settings import chmod_owner_only
from features.online.procurement import ProcurementSource
from features.online.source import PushOutcome
from features.procurement.history import (
    REPORTS_TABLE,
    SUPPLIER_COLUMNS,
    load_process_frames,
)
from ingest.run import (
    CommittedChunk,
    IngestReport,
    StoreAccess,
    StoredChunk,
    ingest_run,
)
from serving.jobs.procurement import ProcurementState, PushSummary
from serving.platform.shared_store import SharedStore

logger = logging.getLogger(__name__)

SPOOL_DIR_NAME = "ingest-spool"
SPOOL_WRITE_BYTES = 1 << 20  # body pieces gathered before one write to the spool file
FILE_NAME_MAX_CHARS = 120
_UNSAFE_NAME_CHARS = re.compile(r"[^\w.\-]+")

# Another online source's push: table name -> rows (store columns) it may consume; returns a
# small JSON-safe summary for the answer, or a source's PushOutcome (counted), or None.
OnlinePush = Callable[[Mapping[str, pd.DataFrame]], Mapping[str, Any] | PushOutcome | None]
ONLINE_PUSH_STATE = "online_push"
READER_PLACE = "thread"  # where the reader runs: a worker thread of the service process


class EmptyBodyError(ValueError):
    """The request carried no bytes."""


# --------------------------------------------------------------------------------------------
# Spooling the body


def spool_root(data_dir: Path) -> Path:
    """``<data_dir>/ingest-spool``, created owner-only."""
    root = Path(data_dir) / SPOOL_DIR_NAME
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    chmod_owner_only(root)
    return root


def safe_file_name(filename: str | None, kind: str) -> str:
    """The base name of ``filename`` with only letters, digits, ``.``, ``-`` and ``_`` (its
    suffix kept: ``.gz`` and ``.csv`` tell the readers how to open it); ``<kind>-upload``
    when nothing is left."""
    base = unicodedata.normalize("NFC", (filename or "").replace("\\", "/").rsplit("/", 1)[-1])
    cleaned = _UNSAFE_NAME_CHARS.sub("_", base).strip("._")[-FILE_NAME_MAX_CHARS:]
    return cleaned.lstrip(".") or f"{kind}-upload"


async def spool_body(chunks: AsyncIterator[bytes], root: Path, file_name: str) -> Path:
    """Write the streamed body to a new private folder under ``root``; the file's path.
    Raises ``EmptyBodyError`` (the folder removed) when no byte came."""
    folder = Path(tempfile.mkdtemp(prefix="run-", dir=root))  # mode 700
    path = folder / file_name
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            size, pending = 0, bytearray()
            async for piece in chunks:
                pending += piece
                if len(pending) >= SPOOL_WRITE_BYTES:
                    size += await anyio.to_thread.run_sync(handle.write, bytes(pending))
                    pending.clear()
            if pending:
                size += await anyio.to_thread.run_sync(handle.write, bytes(pending))
        if size == 0:
            raise EmptyBodyError("the body is empty: send the file's bytes")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return path


def remove_spool(path: Path) -> None:
    shutil.rmtree(path.parent, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Pushing to the live state


# The phases of a run the answer times (seconds summed over its chunks): reading the file,
# storing a chunk (its transaction, waiting for the store included), gathering the whole rows
# of the processes it touched (``live_frames``; "reload": a read-back only for processes the
# chunk grew without their ``processes`` row), updating the live history, scoring, writing
# the alerts, and the other online sources' pushes.
PHASES = ("read", "store", "reload", "online_update", "score", "alert_write", "other_sources")


@dataclass
class LivePush:
    """What pushing a run's chunks did, summed over the chunks.

    ``procurement``: processes new to the history, changed (replaced), unchanged, and alerts
    written, refreshed and withdrawn. ``commit_to_alert_seconds``: the slowest chunk's time
    from its store commit (when its processes are ingested) to its alerts committed: every
    process of a chunk waited that long at most. ``push_to_alert_seconds``: the same from the
    live push's start (after the commit and the read-back). ``phase_seconds``: ``PHASES``.
    ``others``: each registered online push's last summary by name. ``failed``: the pushes
    that raised (logged; the rows are stored)."""

    pushes: int = 0
    procurement: dict[str, int] = field(default_factory=dict)
    model_version: str | None = None
    commit_to_alert_seconds: float | None = None
    push_to_alert_seconds: float | None = None
    phase_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    others: dict[str, Any] = field(default_factory=dict)
    unrouted_tables: set[str] = field(default_factory=set)
    failed: list[str] = field(default_factory=list)

    def add_phase(self, phase: str, seconds: float) -> None:
        self.phase_seconds[phase] = self.phase_seconds.get(phase, 0.0) + seconds

    def add_procurement(self, summary: PushSummary, committed_at: float | None = None) -> None:
        """Count ``summary``; ``committed_at``: ``time.perf_counter()`` at its chunk's commit."""
        counts = {
            "new": len(summary.new),
            "changed": len(summary.changed),
            "unchanged": summary.unchanged,
        }
        self.add_phase("online_update", summary.push_seconds)
        written = summary.alerts
        if written is not None:
            self.model_version = written.model.version
            counts |= {
                "alerts_written": written.written,
                "alerts_refreshed": written.refreshed,
                "alerts_withdrawn": written.withdrawn,
            }
            self.add_phase("score", written.score_seconds)
            self.add_phase("alert_write", written.write_seconds)
            if committed_at is not None and written.committed_at is not None:
                self.commit_to_alert_seconds = max(
                    self.commit_to_alert_seconds or 0.0, written.committed_at - committed_at
                )
        for name, value in counts.items():
            self.procurement[name] = self.procurement.get(name, 0) + value
        if summary.push_to_alert_seconds is not None:
            self.push_to_alert_seconds = max(
                self.push_to_alert_seconds or 0.0, summary.push_to_alert_seconds
            )
        self.unrouted_tables.update(summary.unrouted_tables)


def _push_name(push: OnlinePush) -> str:
    return str(getattr(push, "__qualname__", None) or type(push).__name__)


def push_to_live_state(
    app_state: Any,
    frames_by_table: Mapping[str, pd.DataFrame],
    live: LivePush | None = None,
    *,
    committed_at: float | None = None,
) -> LivePush:
    """Push one chunk's stored rows (table → frame, store columns; procurement tables hold
    whole processes) to the procurement state and every callable in
    ``app_state.online_push``; never raises. ``committed_at``: ``time.perf_counter()`` when
    the chunk committed."""
    live = live if live is not None else LivePush()
    live.pushes += 1
    procurement: ProcurementState | None = getattr(app_state, "procurement", None)
    batch = procurement_batch(frames_by_table)
    if procurement is not None and batch:
        try:
            live.add_procurement(procurement.push(batch), committed_at)
        except Exception:
            logger.exception("the procurement push failed; the rows are stored")
            live.failed.append("procurement")
    others_started = time.perf_counter()
    for push in list(getattr(app_state, ONLINE_PUSH_STATE, None) or []):
        name = _push_name(push)
        try:
            summary = push_summary(push(frames_by_table))
        except Exception:
            logger.exception("online push %s failed; the rows are stored", name)
            live.failed.append(name)
            continue
        if summary is not None:
            live.others[str(summary.get("source", name))] = summary
    live.add_phase("other_sources", time.perf_counter() - others_started)
    return live


def push_report(app_state: Any, linked: pd.DataFrame) -> LivePush | None:
    """A report stored by the feedback API or the console (not by ingestion) to the live
    state, so processes scored from now on count it as a full build would (as of their own
    moment). ``linked``: ``serving.jobs.feedback.linked_row``; nothing to push when the report
    links to no process or supplier. Never raises."""
    if linked.empty:
        return None
    return push_to_live_state(app_state, {REPORTS_TABLE: linked})


def push_summary(outcome: Any) -> dict[str, Any] | None:
    """A push's result as the answer's JSON-safe summary: a mapping as it is; a source's
    ``PushOutcome`` (which may carry the whole history) as its counts, version and seconds."""
    if outcome is None:
        return None
    if isinstance(outcome, PushOutcome):
        return {
            "source": outcome.source,
            "new": len(outcome.new),
            "changed": len(outcome.changed),
            "unchanged": outcome.unchanged,
            "rows_in": outcome.rows_in,
            "ignored_rows": outcome.ignored_rows,
            "version": outcome.version,
            "seconds": outcome.seconds,
        }
    return dict(outcome)


def procurement_batch(frames_by_table: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The part of a chunk's rows the procurement source consumes: its process tables, and
    the register's new rows as fingerprints."""
    batch = {
        table: frame
        for table, frame in frames_by_table.items()
        if table in ProcurementSource.tables and table != "suppliers" and not frame.empty
    }
    register = frames_by_table.get("suppliers")
    if register is not None and not register.empty:
        batch["suppliers"] = register[[c for c in SUPPLIER_COLUMNS if c in register.columns]]
    return batch


def live_frames(stored: StoredChunk, read_back: StoreAccess) -> dict[str, pd.DataFrame]:
    """What a committed chunk gives the live state: the whole stored rows of the procurement
    processes it touched (``processes`` ordered by ocid, as a read-back gives them), and the
    new rows of every other table; every frame as the store returned it (all its columns).

    A process whose ``processes`` row the chunk inserted (new, or replaced whole) is all in
    the chunk's returned rows: every procurement row is stored with its process's row by
    one release, and a replaced process's older rows were deleted first. So nothing is read
    back, except a process the chunk added rows to without its ``processes`` row
    (``read_back``: its whole stored rows replace the chunk's)."""
    frames = dict(stored.new_frames)
    inserted = stored.inserted_ocids
    others = [ocid for ocid in stored.touched_ocids if ocid not in inserted]
    if others:
        with read_back() as store:
            grown = load_process_frames(store, others)
        for table, whole in grown.items():
            mine = frames.get(table)
            if mine is not None:
                whole = pd.concat(
                    [mine[~mine["ocid"].astype(str).isin(others)], whole], ignore_index=True
                )
            frames[table] = whole
    processes = frames.get("processes")
    if processes is not None:
        frames["processes"] = processes.sort_values("ocid", kind="stable", ignore_index=True)
    return frames


# --------------------------------------------------------------------------------------------
# Running a pushed file


@dataclass
class ServiceIngest:
    """A run through the service: the report (as the command line's) and the live push."""

    report: IngestReport
    live: LivePush
    chunks: int = 0
    reader_place: str = READER_PLACE


def ingest_spooled(
    shared: SharedStore,
    personal: PersonalData,
    kind: str,
    path: Path,
    *,
    app_state: Any = None,
) -> ServiceIngest:
    """Read the spooled file at ``path`` (its name is the source file's) and store it chunk
    by chunk (``ingest.run.ingest_run``, the command line's loop, holding the store lock per
    chunk); each committed chunk's rows go to ``push_to_live_state(app_state, ...)`` unless
    ``app_state`` is None. Blocking: run it in a worker thread."""
    live = LivePush()
    chunks = 0

    def after_commit(committed: CommittedChunk) -> None:
        nonlocal chunks
        chunks += 1
        live.add_phase("read", committed.read_seconds)
        live.add_phase("store", committed.store_seconds)
        if app_state is None or not committed.stored.new_rows:
            return
        started = time.perf_counter()
        frames = live_frames(committed.stored, shared.use)
        live.add_phase("reload", time.perf_counter() - started)
        if frames:
            push_to_live_state(app_state, frames, live, committed_at=committed.committed_at)

    report = ingest_run(
        shared.use, personal, kind, path, source_file=path.name, after_commit=after_commit
    )
    return ServiceIngest(report, live, chunks)
