"""Cut a world folder at a date: what an installation held then, and what arrived after.

``cut_world(world, out, at)`` writes ``out/before/``, a world folder (same layout, same
files) holding every record dated before ``at``, and ``out/after/NN-YYYY-MM-DD/``, one
folder per ``piece_days`` after it with the records dated in that piece, in the same
formats. Ingesting ``before`` and then the pieces in order gives the same store as ingesting
the whole world (the pieces partition the records; files without dates go to ``before``).

The date of a record, per kind (all instants are compared as UTC):

* ``ocds``: the release's ``date`` (a compiled release is dated by its latest change: the
  process arrives whole when it was last changed);
* ``xapi``: the statement's ``timestamp``;
* ``supplier_events``: 事件日期; ``supplier_certifications``: 发证日期;
  ``audit_outcomes``: ``confirmed_at``; ``meeting_attendance``: ``starts_at``;
  ``feedback_reports``: ``submitted_at`` (a report arrives with whatever resolution the file
  holds);
* the register, members, knowledge points and the catalogue have no date: ``before``.

Used to replay a world into a running service (``lodestar replay``) and by the live-service
tests and benchmark. Reads and writes text line by line: memory does not grow with the
world.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TextIO

from world.layout import MANIFEST, SHIFT_PATTERNS, WORLD_FILES

BEFORE = "before"
AFTER = "after"

# kind -> the CSV column holding the record's date
_CSV_DATE_COLUMNS = {
    "supplier_events": "事件日期",
    "supplier_certifications": "发证日期",
    "audit_outcomes": "confirmed_at",
    "meeting_attendance": "starts_at",  # local time, compared as if UTC: same calendar day
    "feedback_reports": "submitted_at",
}
_JSON_LINES_DATE_KEYS = {"ocds": "date", "xapi": "timestamp"}


@dataclass
class WorldCut:
    """Where the cut went and how many records landed on each side, per kind."""

    before: Path
    pieces: list[Path] = field(default_factory=list)
    before_counts: dict[str, int] = field(default_factory=dict)
    after_counts: dict[str, int] = field(default_factory=dict)


def instant(text: str) -> datetime:
    """An ISO date or datetime as an aware UTC instant (a naive one is read as UTC)."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


class _Pieces:
    """Routes a dated record to ``before`` or to its piece's folder, opening files lazily."""

    def __init__(self, out: Path, at: date, piece_days: int) -> None:
        self.out = out
        self.start = _midnight(at)
        self.piece = timedelta(days=piece_days)
        self.folders: dict[int, Path] = {}

    def folder(self, when: datetime | None) -> Path:
        if when is None or when < self.start:
            return self.out / BEFORE
        index = int((when - self.start) / self.piece)
        if index not in self.folders:
            first = (self.start + index * self.piece).date()
            self.folders[index] = self.out / AFTER / f"{index:03d}-{first.isoformat()}"
        return self.folders[index]


class _Writers:
    """One open text file per (folder, relative path); CSV files get the header first."""

    def __init__(self, relative: str, header: list[str] | None) -> None:
        self.relative = relative
        self.header = header
        self.files: dict[Path, TextIO] = {}

    def get(self, folder: Path) -> TextIO:
        handle = self.files.get(folder)
        if handle is None:
            path = folder / self.relative
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = path.open("w", encoding="utf-8", newline="")
            if self.header is not None:
                csv.writer(handle).writerow(self.header)
            self.files[folder] = handle
        return handle

    def close(self) -> None:
        for handle in self.files.values():
            handle.close()


def _json_lines(path: Path, key: str) -> Iterator[tuple[str, datetime | None]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                value = json.loads(line).get(key)
                yield (
                    line if line.endswith("\n") else line + "\n",
                    (instant(value) if isinstance(value, str) and value else None),
                )


def _split_json_lines(path: Path, relative: str, key: str, pieces: _Pieces) -> dict[str, int]:
    writers = _Writers(relative, None)
    counts = {BEFORE: 0, AFTER: 0}
    try:
        for line, when in _json_lines(path, key):
            folder = pieces.folder(when)
            writers.get(folder).write(line)
            counts[BEFORE if folder.name == BEFORE else AFTER] += 1
    finally:
        writers.close()
    return counts


def _split_csv(path: Path, relative: str, column: str, pieces: _Pieces) -> dict[str, int]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        position = header.index(column)
        writers = _Writers(relative, header)
        counts = {BEFORE: 0, AFTER: 0}
        try:
            for row in reader:
                text = row[position] if position < len(row) else ""
                folder = pieces.folder(instant(text) if text.strip() else None)
                csv.writer(writers.get(folder)).writerow(row)
                counts[BEFORE if folder.name == BEFORE else AFTER] += 1
        finally:
            writers.close()
    return counts


def _splitter(kind: str) -> Callable[[Path, str, _Pieces], dict[str, int]] | None:
    if kind in _JSON_LINES_DATE_KEYS:
        key = _JSON_LINES_DATE_KEYS[kind]
        return lambda path, relative, pieces: _split_json_lines(path, relative, key, pieces)
    if kind in _CSV_DATE_COLUMNS:
        column = _CSV_DATE_COLUMNS[kind]
        return lambda path, relative, pieces: _split_csv(path, relative, column, pieces)
    return None


def cut_world(world: Path, out: Path, at: date, *, piece_days: int = 7) -> WorldCut:
    """Write ``out/before`` and ``out/after/NN-date`` pieces (module docstring); ``out``
    must not hold an earlier cut."""
    if piece_days < 1:
        raise ValueError("piece_days must be at least 1")
    if (out / BEFORE).exists() or (out / AFTER).exists():
        raise FileExistsError(f"{out} already holds a cut; remove it first")
    pieces = _Pieces(out, at, piece_days)
    cut = WorldCut(before=out / BEFORE)
    (out / BEFORE).mkdir(parents=True)
    for kind, relative in WORLD_FILES:
        source = world / relative
        if not source.exists():
            continue
        split = _splitter(kind)
        if split is None:
            target = out / BEFORE / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            cut.before_counts[kind] = -1  # undated: copied whole
            continue
        counts = split(source, relative, pieces)
        cut.before_counts[kind] = counts[BEFORE]
        cut.after_counts[kind] = counts[AFTER]
    for extra in (MANIFEST, SHIFT_PATTERNS):
        if (world / extra).exists():
            (out / BEFORE / extra).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(world / extra, out / BEFORE / extra)
    cut.pieces = [pieces.folders[index] for index in sorted(pieces.folders)]
    return cut


def piece_files(piece: Path) -> list[tuple[str, Path]]:
    """The (reader kind, file) of one piece folder, in ingestion order."""
    return [(kind, piece / rel) for kind, rel in WORLD_FILES if (piece / rel).exists()]
