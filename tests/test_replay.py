"""``lodestar demo --until`` then ``lodestar replay --from`` against a real server: the store
starts with the world before the cut; the replay posts every piece after it through
``POST /v1/ingest``; warnings appear with the champion's version as tenders arrive; every
record is accounted for; a second replay adds nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from core.settings import Settings
from lodestar.cli import main
from lodestar.replay import ReplayPlan, cut_folder, describe, ensure_cut, replay
from serving.platform.auth import issue_token
from serving.settings import ServiceSettings
from tests.serving.real_server import running_server, server_environment
from tests.serving.test_procurement_api import SMALL_OPTIONS
from training.procurement_risk import train
from world.cut import WorldCut

CUT = date(2025, 11, 15)
PIECE_DAYS = 7


@pytest.fixture(scope="module")
def installation(
    small_world: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> ServiceSettings:
    """A demo installation cut at ``CUT`` by ``lodestar demo --until``, with a champion."""
    root = tmp_path_factory.mktemp("replay")
    data_dir = root / "data"
    data_dir.mkdir()
    (data_dir / "world").symlink_to(small_world[0])
    options = ["--data-dir", str(data_dir), "--key-file", str(root / "keys.json"), "--quiet"]
    assert main(["demo", "--until", CUT.isoformat(), *options]) == 0
    settings = ServiceSettings(data_dir=data_dir, key_file=root / "keys.json")
    uri = settings.resolved_mlflow_tracking_uri
    assert train(settings, SMALL_OPTIONS, tracking_uri=uri, quiet=True).gate.promoted
    return settings


@pytest.fixture(scope="module")
def server(
    installation: ServiceSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    env = server_environment(
        installation, LODESTAR_MLFLOW_TRACKING_URI=installation.resolved_mlflow_tracking_uri
    )
    log = tmp_path_factory.mktemp("replay-server") / "server.log"
    with running_server(env, log) as (url, _):
        yield url


def _alerts(url: str, token: str) -> int:
    answer = httpx.get(
        f"{url}/v1/store/summary", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return int(answer.json()["table_rows"]["alerts"])


def _records(piece: Path) -> int:
    """Records in a piece's files: lines of JSON Lines, rows of CSV (header excluded)."""
    total = 0
    for path in piece.rglob("*"):
        if path.suffix == ".jsonl":
            total += sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line)
        elif path.suffix == ".csv":
            total += max(0, len(path.read_text(encoding="utf-8-sig").splitlines()) - 1)
    return total


def test_demo_until_ingests_only_the_records_before_the_cut(
    installation: ServiceSettings,
) -> None:
    cut = ensure_cut(installation.resolved_world_dir, installation.data_dir, CUT, 1)
    assert cut.before == cut_folder(installation.data_dir, CUT, 1) / "before"
    releases = (cut.before / "procurement" / "releases.jsonl").read_text(encoding="utf-8")
    dates = re.findall(r'"date": ?"(\d{4}-\d{2}-\d{2})', releases)
    assert dates
    assert max(dates) <= CUT.isoformat()


def test_replay_posts_every_piece_and_warnings_arrive(
    installation: ServiceSettings, server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    keyring = Settings(data_dir=installation.data_dir, key_file=installation.key_file).keyring()
    admin = issue_token(keyring, "test-admin", "admin", timedelta(minutes=10))
    platform = issue_token(keyring, "test-platform", "integration", timedelta(minutes=10))
    alerts_before = _alerts(server, admin)
    options = ["--data-dir", str(installation.data_dir), "--key-file", str(installation.key_file)]
    arguments = ["replay", "--from", CUT.isoformat(), "--piece-days", str(PIECE_DAYS)]
    arguments += ["--speed", "0", "--service-url", server, "--token", platform, *options]
    assert main(arguments) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if re.match(r"\d{4}-", ln)]
    cut = ensure_cut(installation.resolved_world_dir, installation.data_dir, CUT, PIECE_DAYS)
    assert len(lines) == len(cut.pieces) >= 3
    counted = [
        re.search(r"([\d,]+) records \(([\d,]+) accepted, ([\d,]+) quarantined", ln) for ln in lines
    ]
    records = sum(int(m.group(1).replace(",", "")) for m in counted if m)
    accepted = sum(int(m.group(2).replace(",", "")) for m in counted if m)
    quarantined = sum(int(m.group(3).replace(",", "")) for m in counted if m)
    assert records == sum(_records(piece) for piece in cut.pieces) > 0
    assert records == accepted + quarantined
    assert any("warnings written" in ln and "by procurement-risk v1" in ln for ln in lines)
    assert _alerts(server, admin) > alerts_before

    assert main(arguments) == 0  # posted again: the service's ingestion is idempotent
    again = capsys.readouterr().out
    assert re.findall(r"([\d,]+) new rows", again)
    assert all(n == "0" for n in re.findall(r"([\d,]+) new rows", again))


def test_replay_paces_pieces_at_the_given_speed(tmp_path: Path) -> None:
    """At 6 world days a minute a one-day piece takes ten seconds, its posting included."""
    pieces = []
    for number in range(3):
        piece = tmp_path / "after" / f"{number:02d}-2025-12-0{number + 1}"
        piece.mkdir(parents=True)
        pieces.append(piece)
    pauses: list[float] = []
    cut = WorldCut(before=tmp_path / "before", pieces=pieces)
    lines: list[str] = []
    posted = replay(
        cut,
        ReplayPlan(start=CUT, speed=6.0),
        "http://127.0.0.1:9",
        "t",
        say=lines.append,
        sleep=pauses.append,
    )
    assert posted == 3
    assert len(lines) == 3
    assert lines[0].startswith("2025-12-01: 0 records")
    assert all(9.0 < p <= 10.0 for p in pauses)


def test_describe_sums_a_piece() -> None:
    answers = [
        {
            "records_in": 5,
            "accepted": 4,
            "quarantined": 1,
            "new_rows": 4,
            "live": {
                "procurement": {"new": 3, "changed": 1, "alerts_written": 2},
                "model_version": "7",
                "commit_to_alert_seconds": 0.25,
            },
        },
        {"records_in": 2, "accepted": 2, "quarantined": 0, "new_rows": 0, "live": {}},
    ]
    line = describe("2025-12-02", answers)
    assert line.startswith("2025-12-02: 7 records (6 accepted, 1 quarantined, 4 new rows)")
    assert "processes new 3, changed 1; warnings written 2" in line
    assert "by procurement-risk v7" in line
    assert "commit to warning 250 ms" in line
