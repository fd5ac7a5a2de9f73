"""The audit log's in-memory chain head and group commit: concurrent writers, one chain."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from features.store import Store
from serving.audit import (
    GENESIS_HASH,
    AuditUnavailableError,
    append_entries,
    append_entry,
    audit_writer,
    chain_head,
    verify_chain,
)
from serving.runtime import SharedStore


def _fields(i: int) -> dict[str, object]:
    return {
        "subject_key": f"s{i}",
        "role": "auditor",
        "action": "GET",
        "resource": f"/v1/thing/{i}",
        "status_code": 200,
        "request_id": f"r{i}",
    }


def test_concurrent_writers_make_one_valid_chain(store: Store) -> None:
    shared = SharedStore(store)
    writer = audit_writer(shared)
    assert audit_writer(shared) is writer
    entries = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def work(k: int) -> None:
        start.wait()
        for i in range(10):
            entry = writer.write(_fields(100 * k + i))
            with lock:
                entries.append(entry)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(entry.seq for entry in entries) == list(range(1, 161))
    assert store.count("audit_log") == 160
    assert verify_chain(store)
    ordered = sorted(entries, key=lambda entry: entry.seq)
    assert [entry.at for entry in ordered] == sorted(entry.at for entry in ordered)
    assert chain_head(store) == (160, ordered[-1].entry_hash)


def test_head_is_read_once_then_follows_writes(store: Store) -> None:
    assert chain_head(store) == (0, GENESIS_HASH)
    first = append_entry(store, **_fields(1), at=datetime(2025, 1, 1))  # type: ignore[arg-type]
    batch = append_entries(store, [{**_fields(i), "at": datetime(2025, 1, 2)} for i in (2, 3)])
    assert [entry.seq for entry in batch] == [2, 3]
    assert batch[0].prev_hash == first.entry_hash
    assert chain_head(store) == (3, batch[-1].entry_hash)
    assert verify_chain(store)


def test_a_stale_head_is_reread_not_forked(store: Store) -> None:
    append_entry(store, **_fields(1))  # type: ignore[arg-type]
    other = Store.__new__(Store)  # another writer appends behind the cached head's back
    other.__dict__.update(store.__dict__)
    append_entry(other, **_fields(2))  # type: ignore[arg-type]
    append_entry(other, **_fields(3))  # type: ignore[arg-type]
    entry = append_entry(store, **_fields(4))  # type: ignore[arg-type]
    assert entry.seq == 4
    assert verify_chain(store)


def test_a_failed_commit_fails_its_entries(store: Store) -> None:
    shared = SharedStore(store)
    writer = audit_writer(shared)
    writer.write(_fields(1))
    store.connection.execute("ALTER TABLE audit_log RENAME TO audit_log_gone")
    with pytest.raises(AuditUnavailableError):
        writer.write(_fields(2))
    store.connection.execute("ALTER TABLE audit_log_gone RENAME TO audit_log")
    assert writer.write(_fields(3)).seq == 2
    assert verify_chain(store)
