"""The service's one writer of the audit log: journal first, table in the background.

The writer keeps the chain head (last seq and hash) in memory and makes each entry durable in
an encrypted journal file (one append and fsync) before the response goes out, which costs
less than committing a DuckDB row per request; concurrent requests share one fsync (group
commit). A background thread moves journaled entries into ``audit_log`` within a second;
readers of the table call ``AuditWriter.flush`` first, and a restart replays what a crash left
in the journal (``serving/platform/audit_journal.py``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.platform.audit_chain import (
    AuditEntry,
    ChainVerifier,
    chain_entries,
    compute_entry_hash,
    hashed_fields,
    insert_missing,
    now_utc,
    table_head,
)
from serving.platform.audit_journal import AuditJournal, AuditJournalError, Segment, seal
from serving.platform.shared_store import SharedStore
from store.queries.audit import AUDIT_COLUMNS

logger = logging.getLogger(__name__)


@dataclass
class _Pending:
    fields: dict[str, Any]
    entry: AuditEntry | None = None
    error: BaseException | None = None
    finished: bool = False


def _row(entry: AuditEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in AUDIT_COLUMNS}


class AuditWriter:
    """The service's one writer of the audit log: journal first, table in the background.

    ``write`` chains an entry onto the in-memory head and makes it durable in the journal
    (``serving/platform/audit_journal.py``) before it returns; concurrent request threads share one
    append and fsync (group commit: the first thread to find no append running writes
    everything queued). A daemon thread moves journaled entries into ``audit_log`` every
    ``move_every_s`` seconds, or sooner once ``move_after`` are waiting; ``flush`` does it at
    once (readers of the table call it first). A failed move keeps the entries in the journal
    and is retried; a failed journal append fails every entry in it.

    Construct with ``open_audit_writer``: it replays what an earlier run left in the journal
    and reads the chain head from the table."""

    def __init__(
        self,
        shared: SharedStore,
        journal: AuditJournal,
        head: tuple[int, str],
        *,
        move_every_s: float = 1.0,
        move_after: int = 512,
        verifier: ChainVerifier | None = None,
    ) -> None:
        self._shared = shared
        self._journal = journal
        self.verifier = verifier or ChainVerifier()
        self._head_seq, self._head_hash = head
        self._move_after = move_after
        self._move_every_s = move_every_s
        self._condition = threading.Condition()
        self._queue: list[_Pending] = []
        self._committing = False
        self._segment: Segment | None = None
        self._journaled: list[AuditEntry] = []  # in the open segment, not yet in the table
        self._moving = threading.Lock()
        self._backlog: list[tuple[Path, list[AuditEntry]]] = []  # closed segments to move
        self._wake = threading.Event()
        self._stopping = False
        self._mover = threading.Thread(target=self._move_loop, name="audit-mover", daemon=True)
        self._mover.start()

    # -- writing ---------------------------------------------------------------------------

    def write(self, fields: dict[str, Any]) -> AuditEntry:
        """Chain one entry (``append_entry``'s fields but ``at``, which is set here, in the
        order of the chain) and return it once durable in the journal."""
        pending = _Pending(fields)
        with self._condition:
            if self._stopping:
                raise AuditUnavailableError("the audit writer is closed")
            pending.fields["at"] = now_utc()
            self._queue.append(pending)
            while not pending.finished and self._committing:
                self._condition.wait()
            if pending.finished:
                return self._result(pending)
            self._committing = True
            batch, self._queue = self._queue, []
        try:
            self._append(batch)
        finally:
            with self._condition:
                self._committing = False
                self._condition.notify_all()
        return self._result(pending)

    def _append(self, batch: list[_Pending]) -> None:
        """Journal one batch and finish every item in it, never raising. Runs with
        ``_committing`` set: no other append, no rotation."""
        entries = chain_entries(self._head_seq, self._head_hash, [item.fields for item in batch])
        try:
            if self._segment is None:
                self._segment = self._journal.new_segment()
            self._segment.append(seal(self._journal.cipher, _row(entry)) for entry in entries)
        except BaseException as error:
            for item in batch:
                item.error, item.finished = error, True
            # The segment may end with part of this batch: later batches go to a new one,
            # and replay drops a cut last line. The head does not move.
            self._close_segment_quietly()
            return
        self._head_seq, self._head_hash = entries[-1].seq, entries[-1].entry_hash
        self._journaled.extend(entries)
        for item, entry in zip(batch, entries, strict=True):
            item.entry, item.finished = entry, True
        if len(self._journaled) >= self._move_after:
            self._wake.set()

    def _close_segment_quietly(self) -> None:
        if self._segment is not None:
            self._segment.close()
            self._backlog.append((self._segment.path, self._journaled))
            self._segment, self._journaled = None, []

    @staticmethod
    def _result(pending: _Pending) -> AuditEntry:
        if pending.error is not None:
            raise AuditUnavailableError("the audit entry was not written") from pending.error
        assert pending.entry is not None
        return pending.entry

    # -- moving into the table -------------------------------------------------------------

    def flush(self) -> int:
        """Move every journaled entry into ``audit_log`` now; the number moved. Raises
        ``AuditUnavailableError`` when the table cannot be written (the entries stay in the
        journal)."""
        with self._moving:
            with self._condition:
                while self._committing:
                    self._condition.wait()
                if self._journaled:
                    self._close_segment_quietly()
                backlog, self._backlog = self._backlog, []
            moved = 0
            for index, (path, entries) in enumerate(backlog):
                try:
                    with self._shared.use() as store:
                        insert_missing(store, entries)
                except BaseException as error:
                    with self._condition:
                        self._backlog[:0] = backlog[index:]
                    raise AuditUnavailableError("audit entries not moved to the table") from error
                self._journal.remove(path)
                moved += len(entries)
            return moved

    def _move_loop(self) -> None:
        while True:
            self._wake.wait(self._move_every_s)
            self._wake.clear()
            if self._stopping:
                return
            try:
                self.flush()
            except Exception:
                logger.exception("audit entries stay in the journal; the move is retried")

    def close(self) -> None:
        """Stop the mover, move what is journaled, close the journal. Entries that cannot be
        moved stay in the journal for the next start."""
        with self._condition:
            self._stopping = True
        self._wake.set()
        self._mover.join()
        try:
            self.flush()
        except AuditUnavailableError:
            logger.exception("audit entries left in the journal for the next start")
        logger.info("audit log head at close: seq %d, hash %s", *self.head)

    @property
    def head(self) -> tuple[int, str]:
        """(last seq, last entry hash) as journaled."""
        with self._condition:
            return self._head_seq, self._head_hash


def replay_journal(shared: SharedStore, journal: AuditJournal) -> int:
    """Move what an earlier run left in the journal into the table, in order; the number of
    entries moved. Raises ``AuditJournalError`` (files left in place) when the journal is
    damaged or does not continue the table's chain."""
    segments = journal.segments()
    moved = 0
    for path in segments:
        rows = journal.read(path)
        entries = [AuditEntry(**row) for row in rows]
        for entry in entries:
            if compute_entry_hash(entry.prev_hash, **hashed_fields(entry)) != entry.entry_hash:
                raise AuditJournalError(f"{path.name}: entry {entry.seq} fails its hash")
        with shared.use() as store:
            insert_missing(store, entries)
        journal.remove(path)
        moved += len(entries)
    if moved:
        logger.warning("replayed %d audit entries from the journal of an earlier run", moved)
    return moved


def open_audit_writer(shared: SharedStore, journal: AuditJournal, **options: Any) -> AuditWriter:
    """Replay the journal, read the head from the table, verify the whole chain (the
    writer's ``verifier`` then checks only newer entries) and start the writer."""
    replay_journal(shared, journal)
    verifier = ChainVerifier()
    with shared.use() as store:
        head = table_head(store)
        if not verifier.verify(store, full=True):
            logger.error("the audit log's hash chain does not verify: it has been changed")
    logger.info("audit log head at start: seq %d, hash %s", *head)
    return AuditWriter(shared, journal, head, verifier=verifier, **options)


class AuditUnavailableError(RuntimeError):
    """The audit log cannot be written (the store is not open)."""
