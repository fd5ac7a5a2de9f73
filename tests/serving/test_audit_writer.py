"""The audit writer: entries durable in an encrypted journal first, moved into the table in the
background, replayed after a crash; concurrent writers make one chain."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.security import PersonalData
from core.settings import Keyring
from serving.platform.audit_chain import append_entry, verify_chain
from serving.platform.audit_journal import AuditJournal, AuditJournalError
from serving.platform.audit_writer import AuditUnavailableError, AuditWriter, open_audit_writer
from serving.platform.shared_store import SharedStore
from store.database import Store

NEVER = 3600.0  # the background mover's interval when a test moves entries itself


def _fields(i: int) -> dict[str, object]:
    return {
        "subject_key": f"s{i}",
        "role": "auditor",
        "action": "GET",
        "resource": f"/v1/thing/{i}",
        "status_code": 200,
        "request_id": f"request-{i}",
    }


@pytest.fixture
def journal(tmp_path: Path, keyring: Keyring) -> AuditJournal:
    return AuditJournal(tmp_path / "journal", PersonalData(keyring).cipher)


@pytest.fixture
def shared(store: Store) -> SharedStore:
    return SharedStore(store)


@pytest.fixture
def writer(shared: SharedStore, journal: AuditJournal) -> Iterator[AuditWriter]:
    opened = open_audit_writer(shared, journal, move_every_s=NEVER)
    yield opened
    opened.close()


def _journal_bytes(journal: AuditJournal) -> bytes:
    return b"".join(path.read_bytes() for path in journal.segments())


def test_concurrent_writers_make_one_valid_chain(writer: AuditWriter, store: Store) -> None:
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
    assert writer.flush() == 160
    assert store.count("audit_log") == 160
    assert verify_chain(store)
    ordered = sorted(entries, key=lambda entry: entry.seq)
    assert [entry.at for entry in ordered] == sorted(entry.at for entry in ordered)
    assert writer.head == (160, ordered[-1].entry_hash)


def test_an_entry_is_in_the_encrypted_journal_before_the_table(
    writer: AuditWriter, journal: AuditJournal, store: Store
) -> None:
    written = [writer.write(_fields(i)) for i in range(3)]
    assert store.count("audit_log") == 0
    raw = _journal_bytes(journal)
    assert raw.count(b"\n") == 3
    for plaintext in (b"request-", b"/v1/thing", b"auditor"):
        assert plaintext not in raw
    [segment] = journal.segments()
    assert [row["entry_hash"] for row in journal.read(segment)] == [
        entry.entry_hash for entry in written
    ]
    assert writer.flush() == 3
    assert journal.segments() == []
    assert store.count("audit_log") == 3
    assert verify_chain(store)


def test_the_mover_moves_entries_in_the_background(
    shared: SharedStore, journal: AuditJournal, store: Store
) -> None:
    writer = open_audit_writer(shared, journal, move_every_s=NEVER, move_after=5)
    try:
        for i in range(5):
            writer.write(_fields(i))
        for _ in range(200):
            with shared.use() as opened:
                if opened.count("audit_log") == 5:
                    break
            threading.Event().wait(0.01)
        assert store.count("audit_log") == 5
    finally:
        writer.close()
    assert journal.segments() == []


def test_a_crash_leaves_entries_that_the_next_start_replays(
    shared: SharedStore, journal: AuditJournal, keyring: Keyring, store: Store
) -> None:
    crashed = open_audit_writer(shared, journal, move_every_s=NEVER)
    answered = [crashed.write(_fields(i)) for i in range(4)]
    assert store.count("audit_log") == 0  # the process dies here, before any move

    restarted_journal = AuditJournal(journal.directory, PersonalData(keyring).cipher)
    restarted = open_audit_writer(shared, restarted_journal, move_every_s=NEVER)
    try:
        assert store.count("audit_log") == 4
        assert restarted.head == (4, answered[-1].entry_hash)
        assert restarted.write(_fields(9)).prev_hash == answered[-1].entry_hash
        restarted.flush()
        assert verify_chain(store)
    finally:
        restarted.close()
        crashed.close()  # its entries are in the table already: nothing is moved twice
    assert store.count("audit_log") == 5
    assert verify_chain(store)


def test_a_cut_last_line_is_dropped_on_replay(
    shared: SharedStore,
    journal: AuditJournal,
    store: Store,
    caplog: pytest.LogCaptureFixture,
) -> None:
    crashed = open_audit_writer(shared, journal, move_every_s=NEVER)
    crashed.write(_fields(1))
    crashed.write(_fields(2))
    [segment] = journal.segments()
    with segment.open("ab") as file:  # a write cut short by the crash: no newline, no tag
        file.write(b"QUJD")
    with caplog.at_level(logging.WARNING, logger="serving.platform.audit_journal"):
        restarted = open_audit_writer(shared, journal, move_every_s=NEVER)
    restarted.close()
    assert "cut audit-journal line" in caplog.text
    assert store.count("audit_log") == 2
    assert verify_chain(store)
    crashed.close()


def test_a_damaged_line_inside_the_journal_stops_the_replay(
    shared: SharedStore, journal: AuditJournal, store: Store
) -> None:
    crashed = open_audit_writer(shared, journal, move_every_s=NEVER)
    for i in range(3):
        crashed.write(_fields(i))
    [segment] = journal.segments()
    lines = segment.read_bytes().split(b"\n")
    middle = bytearray(lines[1])
    middle[40] = ord("A") if middle[40] != ord("A") else ord("B")
    lines[1] = bytes(middle)
    segment.write_bytes(b"\n".join(lines))
    with pytest.raises(AuditJournalError, match="line 2"):
        open_audit_writer(shared, journal, move_every_s=NEVER)
    assert store.count("audit_log") == 0
    assert journal.segments() == [segment]  # left for inspection


def test_a_journal_that_does_not_continue_the_table_stops_the_replay(
    shared: SharedStore, journal: AuditJournal, store: Store
) -> None:
    crashed = open_audit_writer(shared, journal, move_every_s=NEVER)
    crashed.write(_fields(1))
    append_entry(store, **_fields(2))  # type: ignore[arg-type]  # a second writer forked it
    with pytest.raises(AuditJournalError, match="differs from the table's entry 1"):
        open_audit_writer(shared, journal, move_every_s=NEVER)


def test_a_journal_after_a_gap_in_the_table_stops_the_replay(
    shared: SharedStore, journal: AuditJournal, store: Store
) -> None:
    crashed = open_audit_writer(shared, journal, move_every_s=NEVER)
    crashed.write(_fields(1))
    crashed.flush()
    crashed.write(_fields(2))
    store.connection.execute("DELETE FROM audit_log WHERE seq = 1")
    with pytest.raises(AuditJournalError, match="does not continue the table's chain at 0"):
        open_audit_writer(shared, journal, move_every_s=NEVER)


def test_a_failed_move_keeps_the_entries_and_is_retried(
    writer: AuditWriter, journal: AuditJournal, store: Store
) -> None:
    writer.write(_fields(1))
    store.connection.execute("ALTER TABLE audit_log RENAME TO audit_log_gone")
    with pytest.raises(AuditUnavailableError):
        writer.flush()
    assert writer.write(_fields(2)).seq == 2  # requests are still answered, and journaled
    assert len(journal.segments()) == 2
    store.connection.execute("ALTER TABLE audit_log_gone RENAME TO audit_log")
    assert writer.flush() == 2
    assert journal.segments() == []
    assert verify_chain(store)


def test_a_failed_append_fails_its_entries_and_the_next_one_goes_on(
    writer: AuditWriter, store: Store
) -> None:
    writer.write(_fields(1))
    segment = writer._segment  # the open segment's file is broken under the writer
    assert segment is not None
    os.close(segment._fd)
    with pytest.raises(AuditUnavailableError):
        writer.write(_fields(2))
    assert writer.write(_fields(3)).seq == 2
    writer.flush()
    assert store.count("audit_log") == 2
    assert verify_chain(store)


def test_a_closed_writer_refuses_entries(writer: AuditWriter) -> None:
    writer.close()
    with pytest.raises(AuditUnavailableError, match="closed"):
        writer.write(_fields(1))
