"""The audit log: append-only and hash-chained, one entry per request.

Each entry's ``entry_hash`` is ``sha256(prev_hash + canonical JSON of the entry)`` where the
entry is every column but the two hashes, and the first ``prev_hash`` is 64 zeros. Changing,
inserting or deleting an entry anywhere but at the end breaks the chain (``verify_chain``).
Truncating the tail leaves a valid chain: it is caught by comparing with a head recorded
elsewhere (``GET /v1/audit-log`` returns the head and checks an anchor passed back to it; the
head is also logged when the writer starts and closes, so the process log holds copies).

Who: the caller's subject is stored as a keyed pseudonym (``subject`` namespace), or ``''``
when the request carried no valid credential. What: method, and the path with personal path
parameters (employee numbers) replaced by their pseudonyms, so the log names the record read
without holding the identifier in plaintext.

Every request is written, refused ones included (``AuditMiddleware``); authentication names
the caller (``mark_for_audit``). The middleware writes the entry when the response starts,
with the final status code. If an ``/v1`` entry cannot be written, a successful response is
replaced by a 503: no data leaves unaudited. Nothing here, nor any route, updates or deletes
the table.

Cost. The service is the log's only writer (``AuditWriter``): it keeps the chain head (last
seq and hash) in memory and makes each entry durable in an encrypted journal file (one
append and fsync, about 0.2 ms) before the response goes out, where a committed DuckDB row
cost about 1.2 ms; concurrent requests share one fsync (group commit). A background thread
moves journaled entries into ``audit_log`` within a second; readers of the table call
``AuditWriter.flush`` first, and a restart replays what a crash left in the journal
(``serving/platform/audit_journal.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import pyarrow as pa
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.security import PersonalData
from serving.platform.audit_journal import AuditJournal, AuditJournalError, Segment, seal
from serving.platform.context import is_api_path
from serving.platform.errors import error_response, request_id_of
from serving.platform.metrics import UNMATCHED_ROUTE, ServiceMetrics, route_template
from store.database import Store

if TYPE_CHECKING:
    from serving.runtime import Runtime, SharedStore

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
AUDIT_STATE_KEY = "audit_subject"
SUBJECT_NAMESPACE = "subject"
# Path parameters that identify a person, and the pseudonym namespace each maps to.
PERSONAL_PATH_PARAMS = {"employee_no": "member"}
_MAX_RESOURCE_CHARS = 512
_VERIFY_BATCH = 1000
_COLUMN_NAMES = (
    "seq",
    "at",
    "subject_key",
    "role",
    "action",
    "resource",
    "status_code",
    "request_id",
    "prev_hash",
    "entry_hash",
)
_COLUMNS = ", ".join(f'"{name}"' for name in _COLUMN_NAMES)  # AT is a keyword in DuckDB


@dataclass(frozen=True)
class AuditSubject:
    """Who made an audited request, as far as it is known (``''`` before authentication)."""

    subject: str
    role: str


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: datetime  # UTC, naive (DuckDB TIMESTAMP), microsecond precision
    subject_key: str
    role: str
    action: str
    resource: str
    status_code: int
    request_id: str
    prev_hash: str
    entry_hash: str


def mark_for_audit(state: MutableMapping[str, Any], subject: str = "", role: str = "") -> None:
    """Name the caller of this request in its audit entry (``''`` when nobody)."""
    state[AUDIT_STATE_KEY] = AuditSubject(subject, role)


def compute_entry_hash(
    prev_hash: str,
    *,
    seq: int,
    at: datetime,
    subject_key: str,
    role: str,
    action: str,
    resource: str,
    status_code: int,
    request_id: str,
) -> str:
    entry = {
        "seq": seq,
        "at": at.isoformat(timespec="microseconds"),
        "subject_key": subject_key,
        "role": role,
        "action": action,
        "resource": resource,
        "status_code": status_code,
        "request_id": request_id,
    }
    canonical = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


_INSERT = f"INSERT INTO audit_log ({_COLUMNS}) VALUES ({', '.join('?' * len(_COLUMN_NAMES))})"


def _chain(prev_seq: int, prev_hash: str, pending: list[dict[str, Any]]) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    for offset, given in enumerate(pending, start=1):
        fields = {**given, "seq": prev_seq + offset}
        entry_hash = compute_entry_hash(prev_hash, **fields)
        entries.append(AuditEntry(**fields, prev_hash=prev_hash, entry_hash=entry_hash))
        prev_hash = entry_hash
    return entries


def _insert(store: Store, entries: list[AuditEntry]) -> None:
    """Insert chained entries in one statement (one commit). A batch goes in as one Arrow
    table: ``executemany`` binds row by row (about 100 ms for 300 entries), a pandas frame
    of strings is read under the GIL (6 ms), Arrow is not (3 ms)."""
    connection = store.connection
    if len(entries) == 1:
        connection.execute(_INSERT, [getattr(entries[0], name) for name in _COLUMN_NAMES])
        return
    batch = pa.table({name: [getattr(entry, name) for entry in entries] for name in _COLUMN_NAMES})
    connection.register("audit_batch", batch)
    try:
        connection.execute(f"INSERT INTO audit_log ({_COLUMNS}) SELECT {_COLUMNS} FROM audit_batch")
    finally:
        connection.unregister("audit_batch")


def append_entries(store: Store, pending: list[dict[str, Any]]) -> list[AuditEntry]:
    """Chain entries straight onto the table, in order, in one transaction. Each of
    ``pending`` holds the fields of ``compute_entry_hash`` but ``seq``. For tools and tests
    with the store to themselves; the service writes through its ``AuditWriter``."""
    if not pending:
        return []
    prev_seq, prev_hash = table_head(store)
    entries = _chain(prev_seq, prev_hash, pending)
    _insert(store, entries)
    return entries


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def append_entry(
    store: Store,
    *,
    subject_key: str,
    role: str,
    action: str,
    resource: str,
    status_code: int,
    request_id: str,
    at: datetime | None = None,
) -> AuditEntry:
    """Chain one entry straight onto the table (see ``append_entries``)."""
    fields: dict[str, Any] = {
        "at": at or _now(),
        "subject_key": subject_key,
        "role": role,
        "action": action,
        "resource": resource[:_MAX_RESOURCE_CHARS],
        "status_code": status_code,
        "request_id": request_id,
    }
    [entry] = append_entries(store, [fields])
    return entry


@dataclass
class _Pending:
    fields: dict[str, Any]
    entry: AuditEntry | None = None
    error: BaseException | None = None
    finished: bool = False


def _row(entry: AuditEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in _COLUMN_NAMES}


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
            pending.fields["at"] = _now()
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
        entries = _chain(self._head_seq, self._head_hash, [item.fields for item in batch])
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
                        _insert_missing(store, entries)
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


def entry_hash_at(store: Store, seq: int) -> str | None:
    """The stored hash of entry ``seq``; None when there is no such entry."""
    row = store.connection.execute(
        "SELECT entry_hash FROM audit_log WHERE seq = ?", [seq]
    ).fetchone()
    return str(row[0]) if row else None


def table_head(store: Store) -> tuple[int, str]:
    """(last seq, its hash) of the table. ``max(seq)`` comes from the column's statistics;
    ``ORDER BY seq DESC LIMIT 1`` sorted the whole table (4 ms at 100,000 entries)."""
    last = store.connection.execute(
        "SELECT seq, entry_hash FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)"
    ).fetchone()
    return (int(last[0]), str(last[1])) if last else (0, GENESIS_HASH)


def _insert_missing(store: Store, entries: list[AuditEntry]) -> None:
    """Insert the entries the table does not have yet, checking that they continue its chain.
    Entries it has already (a move retried after its commit went through) must be the same
    entries, hash for hash; anything else is a fork and raises ``AuditJournalError``."""
    head_seq, head_hash = table_head(store)
    present = [entry for entry in entries if entry.seq <= head_seq]
    if present:
        stored = dict(
            store.connection.execute(
                "SELECT seq, entry_hash FROM audit_log WHERE seq BETWEEN ? AND ?",
                [present[0].seq, present[-1].seq],
            ).fetchall()
        )
        for entry in present:
            if stored.get(entry.seq) != entry.entry_hash:
                raise AuditJournalError(
                    f"journal entry {entry.seq} differs from the table's entry {entry.seq}"
                )
    missing = entries[len(present) :]
    if not missing:
        return
    first = missing[0]
    if first.seq != head_seq + 1 or first.prev_hash != head_hash:
        raise AuditJournalError(
            f"journal entry {first.seq} does not continue the table's chain at {head_seq}"
        )
    _insert(store, missing)


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
            if compute_entry_hash(entry.prev_hash, **_hashed_fields(entry)) != entry.entry_hash:
                raise AuditJournalError(f"{path.name}: entry {entry.seq} fails its hash")
        with shared.use() as store:
            _insert_missing(store, entries)
        journal.remove(path)
        moved += len(entries)
    if moved:
        logger.warning("replayed %d audit entries from the journal of an earlier run", moved)
    return moved


def _hashed_fields(entry: AuditEntry) -> dict[str, Any]:
    return {
        name: getattr(entry, name)
        for name in _COLUMN_NAMES
        if name not in ("prev_hash", "entry_hash")
    }


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


def verify_after(store: Store, seq: int, prev_hash: str) -> tuple[bool, int, str]:
    """Verify the entries after ``seq``, the first of them chained on ``prev_hash``: (valid,
    last seq verified, its hash). Valid when each entry's hash matches its content and its
    predecessor and the sequence runs on without gaps. Reads in batches."""
    cursor = store.connection.execute(
        f"SELECT {_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq", [seq]
    )
    while rows := cursor.fetchmany(_VERIFY_BATCH):
        for row in rows:
            entry = AuditEntry(*row)
            if entry.seq != seq + 1 or entry.prev_hash != prev_hash:
                return False, seq, prev_hash
            if compute_entry_hash(prev_hash, **_hashed_fields(entry)) != entry.entry_hash:
                return False, seq, prev_hash
            seq, prev_hash = entry.seq, entry.entry_hash
    return True, seq, prev_hash


def verify_chain(store: Store) -> bool:
    """True when the whole log verifies from its first entry (``verify_after``)."""
    return verify_after(store, 0, GENESIS_HASH)[0]


class ChainVerifier:
    """Verifies the log incrementally: it keeps the verified prefix (last verified seq and
    hash) and checks only newer entries, and that the prefix's last entry is still there
    unchanged (a cut or rewritten tail). A change inside the prefix is found only by a full
    verify (``full=True``), which the service runs at start and the security auditor on
    request. A failed verify leaves the prefix where it was, so it fails again until the
    log is repaired."""

    def __init__(self) -> None:
        self._seq, self._hash = 0, GENESIS_HASH
        self._lock = threading.Lock()

    def verify(self, store: Store, *, full: bool = False) -> bool:
        with self._lock:
            seq, prev_hash = (0, GENESIS_HASH) if full else (self._seq, self._hash)
            if seq and entry_hash_at(store, seq) != prev_hash:
                return False
            valid, last_seq, last_hash = verify_after(store, seq, prev_hash)
            if valid:
                self._seq, self._hash = last_seq, last_hash
            return valid

    @property
    def verified_seq(self) -> int:
        with self._lock:
            return self._seq


def read_entries(store: Store, *, limit: int, offset: int) -> tuple[list[AuditEntry], int]:
    """One page of the log in writing order, and the total number of entries."""
    rows = store.connection.execute(
        f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq LIMIT ? OFFSET ?", [limit, offset]
    ).fetchall()
    total = store.count("audit_log")
    return [AuditEntry(*row) for row in rows], total


_PATH_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
UNKNOWN_SEGMENT = "{?}"


def _template_regex(template: str) -> re.Pattern[str]:
    """``/v1/members/{employee_no}`` -> a pattern whose groups are the path parameters."""
    parts: list[str] = []
    last = 0
    for match in _PATH_PARAM.finditer(template):
        parts += [re.escape(template[last : match.start()]), f"(?P<{match.group(1)}>[^/]+)"]
        last = match.end()
    parts.append(re.escape(template[last:]))
    return re.compile("".join(parts))


@dataclass(frozen=True)
class _PathTemplates:
    """The app's path templates, to name the route of a request refused before routing (by
    authentication, the rate limit or the body limit). Read from the OpenAPI document (every
    ``/v1`` route is in it) and the app's top-level routes (the docs pages)."""

    patterns: tuple[tuple[re.Pattern[str], str], ...]
    known_segments: frozenset[str]

    @classmethod
    def of(cls, app: Any) -> _PathTemplates:
        cached = getattr(app.state, "audit_path_templates", None)
        if isinstance(cached, _PathTemplates):
            return cached
        templates = [str(path) for path in app.openapi().get("paths", {})]
        top_level = [str(getattr(route, "path", "")) for route in app.router.routes]
        patterns = tuple((_template_regex(template), template) for template in templates)
        known = frozenset(
            segment
            for template in [*templates, *top_level]
            for segment in template.split("/")
            if segment and not _PATH_PARAM.search(segment)
        )
        found = cls(patterns, known)
        app.state.audit_path_templates = found
        return found


def _template_and_params(scope: Scope) -> tuple[str, dict[str, Any]]:
    """The matched route's template and path parameters; for a request refused before
    routing, the first template its path fits; ``UNMATCHED_ROUTE`` when none."""
    template = route_template(scope)
    if template != UNMATCHED_ROUTE:
        return template, dict(scope.get("path_params") or {})
    path = str(scope.get("path", ""))
    for pattern, candidate in _PathTemplates.of(scope["app"]).patterns:
        if found := pattern.fullmatch(path):
            return candidate, found.groupdict()
    return UNMATCHED_ROUTE, {}


def audited_resource(scope: Scope, personal: PersonalData | None) -> str:
    """The request path, with personal path parameters replaced by ``namespace:pseudonym``.
    A path no route matches keeps only the segments some route spells literally, the others
    become ``{?}``: what a caller typed into an unknown path may be an employee number."""
    path = str(scope.get("path", ""))
    template, params = _template_and_params(scope)
    if template == UNMATCHED_ROUTE:
        known = _PathTemplates.of(scope["app"]).known_segments
        return "/".join(
            segment if not segment or segment in known else UNKNOWN_SEGMENT
            for segment in path.split("/")
        )
    if not PERSONAL_PATH_PARAMS.keys() & params.keys():
        return path

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        raw = str(params.get(name, ""))
        namespace = PERSONAL_PATH_PARAMS.get(name)
        if namespace is None:
            return raw
        if personal is None:
            return f"{{{name}}}"
        return f"{namespace}:{personal.pseudonymiser.pseudonym(namespace, raw.strip())}"

    return _PATH_PARAM.sub(value, template)


class AuditUnavailableError(RuntimeError):
    """The audit log cannot be written (the store is not open)."""


def _write(runtime: Runtime, scope: Scope, who: AuditSubject, status_code: int) -> None:
    personal = runtime.personal
    subject_key = (
        personal.pseudonymiser.pseudonym(SUBJECT_NAMESPACE, who.subject)
        if who.subject and personal is not None
        else ""
    )
    resource = audited_resource(scope, personal)
    if runtime.audit is None:
        raise AuditUnavailableError("the audit writer is not running")
    runtime.audit.write(
        {
            "subject_key": subject_key,
            "role": who.role,
            "action": str(scope.get("method", "")),
            "resource": resource[:_MAX_RESOURCE_CHARS],
            "status_code": status_code,
            "request_id": request_id_of(scope),
        }
    )


class AuditMiddleware:
    """Writes one audit entry for every HTTP request, with its final status code: refused
    ones (401, 403, 404, 413, 429, malformed bodies) included. The caller is the one
    ``mark_for_audit`` named, else nobody (``''``).

    On ``/v1`` an entry that cannot be written turns a successful response into a 503 (no
    data leaves unaudited). The public paths (health, readiness, metrics, the API docs) are
    written the same way, but liveness must not depend on the store: their response stands
    when the entry cannot be written, and while the writer is not running they are not
    written at all."""

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def _record(self, scope: Scope, who: AuditSubject, status_code: int) -> bool:
        runtime: Runtime = scope["app"].state.runtime
        if runtime.audit is None and not is_api_path(scope):
            return True
        try:
            await anyio.to_thread.run_sync(_write, runtime, scope, who, status_code)
        except Exception:
            logger.exception("audit entry not written for request %s", request_id_of(scope))
            self.metrics.audit_write_failures.inc()
            return False
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        recorded = False
        replaced = False

        def caller() -> AuditSubject:
            who = state.get(AUDIT_STATE_KEY)
            return who if isinstance(who, AuditSubject) else AuditSubject("", "")

        async def audited_send(message: Message) -> None:
            nonlocal recorded, replaced
            if replaced:
                return
            if message["type"] == "http.response.start":
                recorded = True
                status_code = int(message["status"])
                written = await self._record(scope, caller(), status_code)
                if not written and status_code < 400 and is_api_path(scope):
                    replaced = True
                    response = error_response(
                        scope, 503, "audit_unavailable", "the audit log cannot be written"
                    )
                    await response(scope, receive, send)
                    return
            await send(message)

        try:
            await self.app(scope, receive, audited_send)
        except Exception:
            if not recorded:
                await self._record(scope, caller(), 500)
            raise
