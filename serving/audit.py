"""The audit log: append-only and hash-chained, one entry per authenticated request.

Each entry's ``entry_hash`` is ``sha256(prev_hash + canonical JSON of the entry)`` where the
entry is every column but the two hashes, and the first ``prev_hash`` is 64 zeros. Changing,
inserting or deleting an entry anywhere but at the end breaks the chain (``verify_chain``).
Truncating the tail is only caught by comparing with a copy of the latest hash kept elsewhere.

Who: the caller's subject is stored as a keyed pseudonym (``subject`` namespace), or ``''``
when the request carried no valid credential. What: method, and the path with personal path
parameters (employee numbers) replaced by their pseudonyms, so the log names the record read
without holding the identifier in plaintext.

Routes mark a request for auditing through the auth dependency (``mark_for_audit``); the
middleware writes the entry when the response starts, with the final status code. If the
entry cannot be written, a successful response is replaced by a 503: no data leaves
unaudited. Nothing here, nor any route, updates or deletes the table.

Cost. The service is the log's only writer, so the chain head (last seq and hash) is read
from the table once, on the first write, and then kept in memory under the store lock
(``chain_head``); a write is one INSERT and its commit. The commit's fsync is most of the
cost (about 4 ms on a virtual disk): concurrent requests share commits (``AuditWriter``,
group commit), each entry still committed before its response goes out.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import weakref
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
import duckdb
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from features.security import PersonalData
from features.store import Store
from serving.errors import error_response, request_id_of
from serving.metrics import UNMATCHED_ROUTE, ServiceMetrics, route_template
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
    """Have this request written to the audit log, as made by ``subject`` in ``role``."""
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


@dataclass
class _ChainHead:
    """The last entry's sequence number and hash, as this process last wrote or read them."""

    seq: int
    entry_hash: str


# The chain head of each open store, kept in memory: the service is the log's only writer
# (it holds the store read-write), so the head is read from the table once, on the first
# write, and then follows the writes. Callers hold the store's lock (``SharedStore.use``).
_HEADS: weakref.WeakKeyDictionary[Store, _ChainHead] = weakref.WeakKeyDictionary()


def _read_head(store: Store) -> _ChainHead:
    last = store.connection.execute(
        "SELECT seq, entry_hash FROM audit_log ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    return _ChainHead(int(last[0]), str(last[1])) if last else _ChainHead(0, GENESIS_HASH)


def chain_head(store: Store) -> tuple[int, str]:
    """(last seq, last entry hash) of the log (``(0, GENESIS_HASH)`` when empty), loaded
    from the table on first use and kept in memory after. The caller holds the store lock."""
    head = _HEADS.get(store)
    if head is None:
        head = _HEADS[store] = _read_head(store)
    return head.seq, head.entry_hash


def _chain(prev_seq: int, prev_hash: str, pending: list[dict[str, Any]]) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    for offset, given in enumerate(pending, start=1):
        fields = {**given, "seq": prev_seq + offset}
        entry_hash = compute_entry_hash(prev_hash, **fields)
        entries.append(AuditEntry(**fields, prev_hash=prev_hash, entry_hash=entry_hash))
        prev_hash = entry_hash
    return entries


def _insert(store: Store, entries: list[AuditEntry]) -> None:
    rows = [
        [
            entry.seq,
            entry.at,
            entry.subject_key,
            entry.role,
            entry.action,
            entry.resource,
            entry.status_code,
            entry.request_id,
            entry.prev_hash,
            entry.entry_hash,
        ]
        for entry in entries
    ]
    connection = store.connection
    if len(rows) == 1:  # one statement, one commit
        connection.execute(_INSERT, rows[0])
        return
    connection.execute("BEGIN TRANSACTION")
    try:
        connection.executemany(_INSERT, rows)
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def append_entries(store: Store, pending: list[dict[str, Any]]) -> list[AuditEntry]:
    """Chain entries onto the log in order, in one transaction (one commit for all). Each
    of ``pending`` holds the fields of ``compute_entry_hash`` but ``seq``. The caller holds
    the store lock (``SharedStore.use``).

    The head comes from memory (``chain_head``). Should the table have moved under it (a
    sequence number already taken: another writer), the head is read again from the table
    and the write retried once; on any failure the head is forgotten, so the next write
    starts from the table."""
    if not pending:
        return []
    for attempt in (1, 2):
        prev_seq, prev_hash = chain_head(store)
        entries = _chain(prev_seq, prev_hash, pending)
        try:
            _insert(store, entries)
        except duckdb.ConstraintException:
            _HEADS.pop(store, None)
            if attempt == 2:
                raise
            continue
        except BaseException:
            _HEADS.pop(store, None)
            raise
        _HEADS[store] = _ChainHead(entries[-1].seq, entries[-1].entry_hash)
        return entries
    raise AssertionError("unreachable")


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
    """Chain one entry onto the log. The caller holds the store lock (``SharedStore.use``)."""
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


class AuditWriter:
    """Group commit of the request threads' entries on one shared store.

    Each request's thread queues its entry and waits until it is committed. The first
    thread to find no commit running writes everything queued, its own entry included, in
    one transaction under the store lock; entries queued meanwhile go in the next one. One
    client pays one commit per request, as before; concurrent clients share commits (on
    disks where a commit's fsync costs milliseconds, that is what bounds throughput). An
    entry is committed before its ``write`` returns, and a failed commit fails every entry
    in it."""

    def __init__(self, shared: SharedStore) -> None:
        self._shared = shared
        self._condition = threading.Condition()
        self._queue: list[_Pending] = []
        self._committing = False

    def write(self, fields: dict[str, Any]) -> AuditEntry:
        """Chain one entry (``append_entry``'s fields but ``at``, which is set here, in the
        order of the chain) and return it once committed."""
        pending = _Pending(fields)
        with self._condition:
            pending.fields["at"] = _now()
            self._queue.append(pending)
            while not pending.finished and self._committing:
                self._condition.wait()
            if pending.finished:
                return self._result(pending)
            self._committing = True
            batch, self._queue = self._queue, []
        try:
            self._commit(batch)
        finally:
            with self._condition:
                self._committing = False
                self._condition.notify_all()
        return self._result(pending)

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            with self._shared.use() as store:
                entries = append_entries(store, [item.fields for item in batch])
        except BaseException as error:
            for item in batch:
                item.error, item.finished = error, True
            return
        for item, entry in zip(batch, entries, strict=True):
            item.entry, item.finished = entry, True

    @staticmethod
    def _result(pending: _Pending) -> AuditEntry:
        if pending.error is not None:
            raise AuditUnavailableError("the audit entry was not written") from pending.error
        assert pending.entry is not None
        return pending.entry


_WRITERS: weakref.WeakKeyDictionary[SharedStore, AuditWriter] = weakref.WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()


def audit_writer(shared: SharedStore) -> AuditWriter:
    """The one ``AuditWriter`` of a shared store."""
    with _WRITERS_LOCK:
        writer = _WRITERS.get(shared)
        if writer is None:
            writer = _WRITERS[shared] = AuditWriter(shared)
        return writer


def verify_chain(store: Store) -> bool:
    """True when every entry's hash matches its content and its predecessor, and the
    sequence runs 1, 2, 3 ... without gaps. Reads the whole log in batches."""
    cursor = store.connection.execute(f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq")
    expected_seq, prev_hash = 1, GENESIS_HASH
    while rows := cursor.fetchmany(_VERIFY_BATCH):
        for row in rows:
            entry = AuditEntry(*row)
            if entry.seq != expected_seq or entry.prev_hash != prev_hash:
                return False
            recomputed = compute_entry_hash(
                prev_hash,
                seq=entry.seq,
                at=entry.at,
                subject_key=entry.subject_key,
                role=entry.role,
                action=entry.action,
                resource=entry.resource,
                status_code=entry.status_code,
                request_id=entry.request_id,
            )
            if recomputed != entry.entry_hash:
                return False
            expected_seq, prev_hash = expected_seq + 1, entry.entry_hash
    return True


def read_entries(store: Store, *, limit: int, offset: int) -> tuple[list[AuditEntry], int]:
    """One page of the log in writing order, and the total number of entries."""
    rows = store.connection.execute(
        f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq LIMIT ? OFFSET ?", [limit, offset]
    ).fetchall()
    total = store.count("audit_log")
    return [AuditEntry(*row) for row in rows], total


def audited_resource(scope: Scope, personal: PersonalData | None) -> str:
    """The request path, with personal path parameters replaced by ``namespace:pseudonym``."""
    template = route_template(scope)
    params: dict[str, Any] = scope.get("path_params") or {}
    if template == UNMATCHED_ROUTE or not PERSONAL_PATH_PARAMS.keys() & params.keys():
        return str(scope.get("path", ""))

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        raw = str(params.get(name, ""))
        namespace = PERSONAL_PATH_PARAMS.get(name)
        if namespace is None:
            return raw
        if personal is None:
            return f"{{{name}}}"
        return f"{namespace}:{personal.pseudonymiser.pseudonym(namespace, raw.strip())}"

    return re.sub(r"\{(\w+)(?::\w+)?\}", value, template)


class AuditUnavailableError(RuntimeError):
    """The audit log cannot be written (the store is not open)."""


def _write(runtime: Runtime, scope: Scope, who: AuditSubject, status_code: int) -> None:
    if runtime.store is None:
        raise AuditUnavailableError("the store is not open")
    personal = runtime.personal
    subject_key = (
        personal.pseudonymiser.pseudonym(SUBJECT_NAMESPACE, who.subject)
        if who.subject and personal is not None
        else ""
    )
    resource = audited_resource(scope, personal)
    audit_writer(runtime.store).write(
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
    """Writes the audit entry of every request marked by ``mark_for_audit``."""

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def _record(self, scope: Scope, who: AuditSubject, status_code: int) -> bool:
        runtime: Runtime = scope["app"].state.runtime
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

        async def audited_send(message: Message) -> None:
            nonlocal recorded, replaced
            if replaced:
                return
            who = state.get(AUDIT_STATE_KEY)
            if message["type"] == "http.response.start" and who is not None:
                recorded = True
                status_code = int(message["status"])
                if not await self._record(scope, who, status_code) and status_code < 400:
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
            who = state.get(AUDIT_STATE_KEY)
            if who is not None and not recorded:
                await self._record(scope, who, 500)
            raise
