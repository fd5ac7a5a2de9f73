"""Ingesting several files on two cores: two reader processes (lanes) parse while this
process stores their chunks in the order they arrive.

The learning and party files form one lane, the supplier, procurement and feedback files the
other (``lane_of``); within a lane files keep the standard order (catalogue before
statements, register before certifications, releases before audit outcomes, ``ingest.layout``)
and the lanes share no table, so the order between them changes nothing stored. Everything
else is ``ingest_run``'s: each chunk in its own transaction, ``records_in == accepted +
quarantined`` per file, a chunk the store refuses quarantines the rest of its file as one
record, the run's row in ``ingest_runs`` when a file ends. The lanes' shared queue holds at
most ``QUEUE_CHUNKS`` chunks, so memory holds a few chunks, never a file. A reader process
that dies quarantines the rest of the file it was reading as one record (``source_line`` 0)
and its lane's later files are read here instead.

Reader processes start from a fresh interpreter (``spawn``: the store's threads are never
forked; they are this process's children, so their CPU counts in its ``wait4``) and receive
the keyring through a pipe to pseudonymise and encrypt as the readers do here; nothing they
parse touches the disk.
"""

from __future__ import annotations

import gc
import multiprocessing
import queue
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.security import PersonalData
from core.settings import Keyring
from ingest.readers.common import ReadChunk, now_utc
from ingest.run import (
    STORE_FAILURES,
    IngestReport,
    _commit,
    collected_per_chunk,
    read_chunks,
    rest_of_file_chunk,
    run_row,
)
from store.database import Store

QUEUE_CHUNKS = 4
POLL_SECONDS = 1.0
LEARNING_KINDS = frozenset(
    {"knowledge_points", "catalogue", "members", "meeting_attendance", "xapi"}
)

File = tuple[str, Path]
Message = tuple[str, int, Any]
"""("chunk", file index, ReadChunk) | ("end", file index, None) | ("lane", lane, None)."""


def lane_of(kind: str) -> int:
    """0 for the learning and party files, 1 for the rest."""
    return 0 if kind in LEARNING_KINDS else 1


def read_lane(lane: int, files: Sequence[tuple[int, str, str]], keyring: Keyring, out: Any) -> None:
    """A reader process: every chunk of ``files`` (index, kind, path) in order, then the lane's
    end. Reader failures are already chunks (``read_chunks``)."""
    personal = PersonalData(keyring)
    with collected_per_chunk():
        for index, kind, path in files:
            for chunk in read_chunks(kind, Path(path), personal):
                out.put(("chunk", index, chunk))
                gc.collect()
            out.put(("end", index, None))
    out.put(("lane", lane, None))


@dataclass
class _Progress:
    """What this process knows of one file while its chunks arrive."""

    kind: str
    path: Path
    report: IngestReport
    on_chunk: Callable[[int], None] | None
    started: float = field(default_factory=time.perf_counter)
    started_at: object = field(default_factory=now_utc)
    refused: bool = False
    done: bool = False


def ingest_files_parallel(
    store: Store,
    personal: PersonalData,
    keyring: Keyring,
    files: Sequence[File],
    *,
    on_file: Callable[[str, Path], Callable[[int], None] | None] | None = None,
    reader: Callable[..., None] = read_lane,
) -> list[IngestReport]:
    """Ingest ``files`` (kind, path) into ``store`` with two reader processes running
    ``reader`` (``read_lane``'s signature, importable by name); the reports in the order of
    ``files``. ``personal`` must be built from ``keyring``."""
    progress = [
        _Progress(kind, Path(path), IngestReport(kind=kind, source_file=str(path)), None)
        for kind, path in files
    ]
    for item in progress:
        item.on_chunk = on_file(item.kind, item.path) if on_file else None
    lanes = _lanes(files)
    context = multiprocessing.get_context("spawn")
    messages = context.Queue(maxsize=QUEUE_CHUNKS)
    processes = {
        lane: context.Process(target=reader, args=(lane, members, keyring, messages), daemon=True)
        for lane, members in lanes.items()
    }
    for process in processes.values():
        process.start()
    try:
        with collected_per_chunk():
            _store_messages(store, personal, progress, messages, processes, lanes)
    finally:
        for process in processes.values():
            if process.is_alive():
                process.terminate()
            process.join()
    return [item.report for item in progress]


def _lanes(files: Sequence[File]) -> dict[int, list[tuple[int, str, str]]]:
    lanes: dict[int, list[tuple[int, str, str]]] = {}
    for index, (kind, path) in enumerate(files):
        lanes.setdefault(lane_of(kind), []).append((index, kind, str(path)))
    return lanes


def _store_messages(
    store: Store,
    personal: PersonalData,
    progress: list[_Progress],
    messages: Any,
    processes: dict[int, Any],
    lanes: dict[int, list[tuple[int, str, str]]],
) -> None:
    """Store the lanes' chunks as they arrive until every lane has ended."""
    open_lanes = set(processes)
    while open_lanes:
        try:
            kind, index, payload = messages.get(timeout=POLL_SECONDS)
        except queue.Empty:
            for lane in sorted(open_lanes):
                if not processes[lane].is_alive():
                    _finish_dead_lane(store, personal, progress, lanes[lane], processes[lane])
                    open_lanes.discard(lane)
            continue
        if kind == "chunk":
            _store_chunk(store, personal, progress[index], payload)
        elif kind == "end":
            _end_file(store, progress[index])
        else:
            open_lanes.discard(index)


def _store_chunk(store: Store, personal: PersonalData, item: _Progress, chunk: ReadChunk) -> None:
    """One chunk of ``item``'s file in its own transaction; after the store refused one, the
    file's later chunks are already counted in its rest-of-file record."""
    if item.refused:
        return
    try:
        stored = _commit(lambda: nullcontext(store), personal, chunk, False)
    except STORE_FAILURES as error:
        item.refused = True
        chunk = rest_of_file_chunk(item.kind, item.path, item.report.records_in, "storing", error)
        stored = _commit(lambda: nullcontext(store), personal, chunk, False)
    item.report.new_rows += stored.new_rows
    item.report.add(chunk)
    gc.collect()
    if item.on_chunk is not None:
        item.on_chunk(chunk.records_in)


def _end_file(store: Store, item: _Progress) -> None:
    item.report.seconds = time.perf_counter() - item.started
    store.insert_new("ingest_runs", run_row(item.report, item.started_at))
    item.done = True


def _finish_dead_lane(
    store: Store,
    personal: PersonalData,
    progress: list[_Progress],
    files: Sequence[tuple[int, str, str]],
    process: Any,
) -> None:
    """A reader process ended without saying so: the rest of the file it was reading becomes
    one quarantined record; the lane's files not begun are read here."""
    error = RuntimeError(f"reader process exited with code {process.exitcode}")
    begun = False
    for index, kind, path in files:
        item = progress[index]
        if item.done:
            continue
        if not begun:
            begun = True
            chunk = rest_of_file_chunk(kind, Path(path), item.report.records_in, "reader", error)
            _store_chunk(store, personal, item, chunk)
        else:
            for chunk in read_chunks(kind, Path(path), personal):
                _store_chunk(store, personal, item, chunk)
        _end_file(store, item)
