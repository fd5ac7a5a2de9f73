"""The audit log's hash chain: entries, their hashes, and verification.

Each entry's ``entry_hash`` is ``sha256(prev_hash + canonical JSON of the entry)`` where the
entry is every column but the two hashes, and the first ``prev_hash`` is 64 zeros. Changing,
inserting or deleting an entry anywhere but at the end breaks the chain (``verify_chain``).
Truncating the tail leaves a valid chain: it is caught by comparing with a head recorded
elsewhere (``GET /v1/audit-log`` returns the head and checks an anchor passed back to it; the
head is also logged when the writer starts and closes, so the process log holds copies).

Nothing here, nor any route, updates or deletes the table.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from serving.platform.audit_journal import AuditJournalError
from store.database import Store
from store.queries import audit as audit_queries
from store.queries.audit import AUDIT_COLUMNS

GENESIS_HASH = "0" * 64
MAX_RESOURCE_CHARS = 512
_VERIFY_BATCH = 1000


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


def chain_entries(prev_seq: int, prev_hash: str, pending: list[dict[str, Any]]) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    for offset, given in enumerate(pending, start=1):
        fields = {**given, "seq": prev_seq + offset}
        entry_hash = compute_entry_hash(prev_hash, **fields)
        entries.append(AuditEntry(**fields, prev_hash=prev_hash, entry_hash=entry_hash))
        prev_hash = entry_hash
    return entries


def insert_entries(store: Store, entries: list[AuditEntry]) -> None:
    """Insert chained entries in one statement (one commit)."""
    audit_queries.insert_entries(
        store.connection, [[getattr(entry, name) for name in AUDIT_COLUMNS] for entry in entries]
    )


def append_entries(store: Store, pending: list[dict[str, Any]]) -> list[AuditEntry]:
    """Chain entries straight onto the table, in order, in one transaction. Each of
    ``pending`` holds the fields of ``compute_entry_hash`` but ``seq``. For tools and tests
    with the store to themselves; the service writes through its ``AuditWriter``."""
    if not pending:
        return []
    prev_seq, prev_hash = table_head(store)
    entries = chain_entries(prev_seq, prev_hash, pending)
    insert_entries(store, entries)
    return entries


def now_utc() -> datetime:
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
        "at": at or now_utc(),
        "subject_key": subject_key,
        "role": role,
        "action": action,
        "resource": resource[:MAX_RESOURCE_CHARS],
        "status_code": status_code,
        "request_id": request_id,
    }
    [entry] = append_entries(store, [fields])
    return entry


def entry_hash_at(store: Store, seq: int) -> str | None:
    """The stored hash of entry ``seq``; None when there is no such entry."""
    return audit_queries.entry_hash_at(store.connection, seq)


def table_head(store: Store) -> tuple[int, str]:
    """(last seq, its hash) of the table; (0, ``GENESIS_HASH``) when it is empty."""
    return audit_queries.last_entry(store.connection) or (0, GENESIS_HASH)


def insert_missing(store: Store, entries: list[AuditEntry]) -> None:
    """Insert the entries the table does not have yet, checking that they continue its chain.
    Entries it has already (a move retried after its commit went through) must be the same
    entries, hash for hash; anything else is a fork and raises ``AuditJournalError``."""
    head_seq, head_hash = table_head(store)
    present = [entry for entry in entries if entry.seq <= head_seq]
    if present:
        stored = audit_queries.entry_hashes_between(
            store.connection, present[0].seq, present[-1].seq
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
    insert_entries(store, missing)


def hashed_fields(entry: AuditEntry) -> dict[str, Any]:
    return {
        name: getattr(entry, name)
        for name in AUDIT_COLUMNS
        if name not in ("prev_hash", "entry_hash")
    }


def verify_after(store: Store, seq: int, prev_hash: str) -> tuple[bool, int, str]:
    """Verify the entries after ``seq``, the first of them chained on ``prev_hash``: (valid,
    last seq verified, its hash). Valid when each entry's hash matches its content and its
    predecessor and the sequence runs on without gaps. Reads in batches."""
    for rows in audit_queries.entries_after(store.connection, seq, batch=_VERIFY_BATCH):
        for row in rows:
            entry = AuditEntry(*row)
            if entry.seq != seq + 1 or entry.prev_hash != prev_hash:
                return False, seq, prev_hash
            if compute_entry_hash(prev_hash, **hashed_fields(entry)) != entry.entry_hash:
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
    rows, total = audit_queries.entry_page(store.connection, limit=limit, offset=offset)
    return [AuditEntry(*row) for row in rows], total
