"""Cutting a world at a date: the pieces partition the records, and ingesting ``before``
then every piece gives the same store as ingesting the whole world."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from core.security import PersonalData
from core.settings import Keyring
from ingest.run import ingest_file, ingest_world
from store.database import Store
from world.cut import AFTER, BEFORE, cut_world, instant, piece_files
from world.layout import WORLD_FILES

CUT = date(2025, 10, 1)


@pytest.fixture(scope="module")
def world(small_world: tuple[Path, Path]) -> Path:
    return small_world[0]


@pytest.fixture(scope="module")
def cut(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cut")
    cut_world(world, out, CUT, piece_days=14)
    return out


def _records(path: Path) -> int:
    if path.suffix == ".jsonl":
        return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def test_pieces_partition_every_dated_file(world: Path, cut: Path) -> None:
    pieces = sorted((cut / AFTER).iterdir())
    assert len(pieces) >= 6  # a quarter in fortnights
    for kind, relative in WORLD_FILES:
        if relative.endswith(".jsonl") or kind in {"supplier_events", "audit_outcomes"}:
            parts = [cut / BEFORE / relative, *(p / relative for p in pieces)]
            counted = sum(_records(p) for p in parts if p.exists())
            assert counted == _records(world / relative), kind


def test_each_side_holds_only_its_dates(cut: Path) -> None:
    start = datetime(CUT.year, CUT.month, CUT.day, tzinfo=UTC)
    before = (cut / BEFORE / "procurement/releases.jsonl").read_text(encoding="utf-8")
    assert all(instant(json.loads(line)["date"]) < start for line in before.splitlines())
    first = sorted((cut / AFTER).iterdir())[0]
    assert first.name == f"000-{CUT.isoformat()}"
    for line in (first / "procurement/releases.jsonl").read_text(encoding="utf-8").splitlines():
        when = instant(json.loads(line)["date"])
        assert start <= when < datetime(2025, 10, 15, tzinfo=UTC)


def test_a_second_cut_into_the_same_folder_is_refused(world: Path, cut: Path) -> None:
    with pytest.raises(FileExistsError, match="already holds a cut"):
        cut_world(world, cut, CUT)


def test_naive_instants_are_read_as_utc() -> None:
    assert instant("2025-10-01") == datetime(2025, 10, 1, tzinfo=UTC)
    assert instant("2025-10-01T08:00:00+08:00") == datetime(2025, 10, 1, tzinfo=UTC)


def test_ingesting_the_pieces_equals_ingesting_the_world(
    world: Path, cut: Path, tmp_path: Path, keyring: Keyring
) -> None:
    personal = PersonalData(keyring)
    with Store(tmp_path / "whole.duckdb", encryption_key=None) as whole:
        ingest_world(whole, personal, world)
        expected = whole.table_counts()
    with Store(tmp_path / "pieces.duckdb", encryption_key=None) as pieces:
        ingest_world(pieces, personal, cut / BEFORE)
        for piece in sorted((cut / AFTER).iterdir()):
            for kind, path in piece_files(piece):
                ingest_file(pieces, personal, kind, path)
        counts = pieces.table_counts()
    counts.pop("ingest_runs"), expected.pop("ingest_runs")
    assert counts == expected
