"""The audit log's journal: where an entry is made durable before its response goes out.

Appending one line to a file and ``fsync``-ing it costs a fraction of committing one row to
the encrypted DuckDB file. So the service writes each entry (or each group of concurrent
entries) to the journal and fsyncs it before answering, and a background thread moves
journaled entries into the ``audit_log`` table in batches (``AuditWriter`` in
``serving/platform/audit_writer.py``). Durability is the same: an answered request's entry
is on disk either way; only where it sits for the first second differs.

Layout. A folder beside the store (``<store file>.audit-journal/``, mode 0700) holds segment
files named by a counter (``000000000001.journal`` ...). The writer appends to the newest;
the mover starts a new segment, copies the old one's entries into the table and deletes it.
Each line is one entry: the ten ``audit_log`` columns as JSON, sealed with the store's field
cipher (AES-256-GCM, associated data ``audit_journal``) and base64-encoded, so the journal is
encrypted at rest like the store.

Recovery. Segments left by a stopped or crashed service are replayed, in order, when the
writer starts (``replay``). A segment's last line that does not decrypt is a write cut short
(by a crash or a failed append): its request was never answered, so it is dropped with a
warning. Any other line that does not decrypt, or an entry that does not continue the chain,
stops the replay with ``AuditJournalError`` and leaves the files for inspection.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from core.security import DecryptionError, FieldCipher

logger = logging.getLogger(__name__)

JOURNAL_SUFFIX = ".journal"
_ASSOCIATED_DATA = "audit_journal"
_NAME_DIGITS = 12


class AuditJournalError(RuntimeError):
    """The journal cannot be read back: a damaged line that is not the last, or entries
    that do not continue the table's chain."""


def journal_dir_for(store_path: Path) -> Path:
    """The journal folder of the store file at ``store_path``."""
    return store_path.with_name(store_path.name + ".audit-journal")


def _fsync_dir(directory: Path) -> None:
    """Make a file's creation or removal in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def seal(cipher: FieldCipher, row: dict[str, Any]) -> bytes:
    """One journal line (with its newline) for one entry's columns."""
    plain = json.dumps(
        {**row, "at": row["at"].isoformat(timespec="microseconds")},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    token = cipher.encrypt(plain, column=_ASSOCIATED_DATA)
    assert token is not None
    return base64.b64encode(token) + b"\n"


def unseal(cipher: FieldCipher, line: bytes) -> dict[str, Any]:
    """The entry's columns from one journal line; ``DecryptionError`` or ``ValueError`` when
    the line is damaged."""
    plain = cipher.decrypt(base64.b64decode(line.strip(), validate=True), column=_ASSOCIATED_DATA)
    assert plain is not None
    row: dict[str, Any] = json.loads(plain)
    row["at"] = datetime.fromisoformat(row["at"])
    return row


class Segment:
    """One journal file open for appending."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        _fsync_dir(path.parent)

    def append(self, lines: Iterable[bytes]) -> None:
        """Write the lines and fsync: durable when this returns."""
        data = b"".join(lines)
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fsync(self._fd)

    def close(self) -> None:
        """Close the file; an error closing it is logged, not raised (what was fsynced is
        on disk either way)."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                logger.exception("closing audit-journal segment %s", self.path)


class AuditJournal:
    """The segment files of one store's journal."""

    def __init__(self, directory: Path, cipher: FieldCipher) -> None:
        self.directory = directory
        self.cipher = cipher
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._counter = max((self._number(path) for path in self.segments()), default=0)

    @staticmethod
    def _number(path: Path) -> int:
        return int(path.name.removesuffix(JOURNAL_SUFFIX))

    def segments(self) -> list[Path]:
        """Segment files on disk, oldest first."""
        found = [
            path
            for path in self.directory.glob(f"*{JOURNAL_SUFFIX}")
            if path.name.removesuffix(JOURNAL_SUFFIX).isdigit()
        ]
        return sorted(found, key=self._number)

    def new_segment(self) -> Segment:
        """A new, empty segment after every existing one."""
        self._counter += 1
        name = f"{self._counter:0{_NAME_DIGITS}d}{JOURNAL_SUFFIX}"
        return Segment(self.directory / name)

    def read(self, path: Path) -> list[dict[str, Any]]:
        """The entries of one segment. A damaged final line is a write cut short (after a
        failed append the writer moves to a new segment, so a cut can only end a segment)
        and is dropped; any other damaged line raises ``AuditJournalError``. Dropping cannot
        hide an answered request's entry: the next segment would then not continue the
        chain, which the replay checks."""
        lines = [line for line in path.read_bytes().split(b"\n") if line.strip()]
        rows: list[dict[str, Any]] = []
        for number, line in enumerate(lines, start=1):
            try:
                rows.append(unseal(self.cipher, line))
            except (DecryptionError, ValueError) as error:
                if number == len(lines):
                    logger.warning("dropped a cut audit-journal line at the end of %s", path)
                    break
                raise AuditJournalError(f"{path.name}, line {number}: {error}") from error
        return rows

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        _fsync_dir(self.directory)
