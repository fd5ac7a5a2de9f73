"""The data command line end to end on a small world: keys, generate, ingest twice, summary."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from core.settings import Settings
from lodestar.cli import main
from store.database import Store, plaintext_present


@pytest.fixture
def installation(tmp_path: Path, small_world: tuple[Path, Path]) -> list[str]:
    """CLI options for a fresh installation whose world folder is a copy of the small world."""
    data_dir = tmp_path / "data"
    shutil.copytree(small_world[0], data_dir / "world")
    options = ["--data-dir", str(data_dir), "--key-file", str(tmp_path / "keys.json"), "--quiet"]
    assert main(["keys", "init", *options]) == 0
    return options


def _settings(options: list[str]) -> Settings:
    return Settings(data_dir=Path(options[1]), key_file=Path(options[3]))


def test_ingest_twice_gives_the_same_counts(
    installation: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", *installation]) == 0
    first_output = capsys.readouterr().out
    settings = _settings(installation)
    with Store.open(settings, settings.keyring(), read_only=True) as store:
        first = store.table_counts()
    assert main(["ingest", *installation]) == 0
    with Store.open(settings, settings.keyring(), read_only=True) as store:
        second = store.table_counts()
        runs = store.query("SELECT records_in, accepted, quarantined FROM ingest_runs")
    assert "total" in first_output
    assert {k: v for k, v in first.items() if k != "ingest_runs"} == {
        k: v for k, v in second.items() if k != "ingest_runs"
    }
    for table in ("processes", "bids", "statements", "members", "suppliers", "content"):
        assert first[table] > 0, table
    assert (runs["records_in"] == runs["accepted"] + runs["quarantined"]).all()
    assert first["quarantine"] == 0, "the demo world is valid: nothing should be quarantined"


def test_no_personal_field_in_plaintext(installation: list[str], small_world: Path) -> None:
    assert main(["ingest", *installation]) == 0
    world = Path(installation[1]) / "world"
    with (world / "learning" / "members.csv").open(encoding="utf-8-sig") as handle:
        members = list(csv.DictReader(handle))
    with (world / "suppliers" / "register.csv").open(encoding="utf-8-sig") as handle:
        suppliers = list(csv.DictReader(handle))
    needles = [m["name"] for m in members] + [m["phone"] for m in members]
    needles += [s["法定代表人"] for s in suppliers] + [s["联系电话"] for s in suppliers]
    needles += [s["开户银行账号"] for s in suppliers]
    needles = [n for n in needles if len(n) >= 2]
    assert len(needles) > 100
    store_path = _settings(installation).resolved_store_path
    assert plaintext_present(store_path, needles) == []


def test_summary_and_classification(
    installation: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", *installation]) == 0
    capsys.readouterr()
    assert main(["summary", *installation]) == 0
    summary = capsys.readouterr().out
    assert "statements" in summary
    assert "latest ingestion runs" in summary
    assert main(["classification"]) == 0
    table = capsys.readouterr().out
    assert "| members | name_enc | BLOB | important | personal | encrypted |" in table


def test_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    options = ["--data-dir", str(tmp_path), "--key-file", str(tmp_path / "none.json")]
    assert main(["ingest", *options]) == 1
    assert "lodestar keys init" in capsys.readouterr().err
    assert main(["keys", "init", *options]) == 0
    assert main(["ingest", "--kind", "nonsense", str(tmp_path / "x.jsonl"), *options]) == 1
    assert main(["ingest", *options, "--world", str(tmp_path / "nowhere")]) == 1
