"""The living service end to end, one real uvicorn server and no restart: it starts on a
world cut at a date; the weeks after the cut are pushed through ``POST /v1/ingest``; new
warnings appear with the champion's version; reviewers' verdicts are posted; a retrain
through ``POST /v1/admin/retrain`` moves the champion; the service answers with the new
version; and the drift gauge moves when the scored data is shifted on purpose.

Real pieces throughout: the small demo world cut with ``world.cut``, a store
ingested from its ``before`` folder, a real MLflow SQLite registry, the real training command
in the service's retrain subprocess, ``python -m serving run`` on a loopback port. The retrain
is given ``--min-improvement -1`` so that the gate promotes it whatever its score: the test is
of the loop, not of whether a few weeks more data beat the champion."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.settings import Keyring
from lodestar.cli import main
from serving.live.drift import LEVEL_ALL
from serving.settings import ServiceSettings
from tests.serving.conftest import bearer
from tests.serving.real_server import running_server, server_environment
from tests.serving.test_drift import _tripled_prices
from tests.serving.test_procurement_api import SMALL_OPTIONS
from tests.serving.test_retrain import SMALL_RISK_ARGUMENTS
from training.procurement_risk import train
from world.cut import cut_world, piece_files

CUT = date(2025, 11, 1)
MODEL = "procurement-risk"
PRICE_FEATURE = "unit_price_to_category_median_180d"
RETRAIN_ARGUMENTS = [*SMALL_RISK_ARGUMENTS, "--min-improvement", "-1"]
WAIT_SECONDS = 240.0
BATCH = 100


@pytest.fixture(scope="module")
def cut_installation(
    small_world: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[ServiceSettings, list[Path]]:
    """An installation holding the world before ``CUT`` with a champion trained on it, and
    the fortnightly pieces after the cut (folders, oldest first)."""
    root = tmp_path_factory.mktemp("living")
    cut = cut_world(small_world[0], root / "cut", CUT, piece_days=14)
    data_dir = root / "data"
    data_dir.mkdir()
    (data_dir / "world").symlink_to(cut.before)
    options = ["--data-dir", str(data_dir), "--key-file", str(root / "keys.json"), "--quiet"]
    assert main(["keys", "init", *options]) == 0
    assert main(["ingest", "--local", *options]) == 0
    settings = ServiceSettings(data_dir=data_dir, key_file=root / "keys.json")
    uri = settings.resolved_mlflow_tracking_uri
    assert train(settings, SMALL_OPTIONS, tracking_uri=uri, quiet=True).gate.promoted
    assert len(cut.pieces) >= 3
    return settings, cut.pieces


@pytest.fixture(scope="module")
def server(
    cut_installation: tuple[ServiceSettings, list[Path]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    settings, _ = cut_installation
    env = server_environment(
        settings,
        LODESTAR_MLFLOW_TRACKING_URI=settings.resolved_mlflow_tracking_uri,
        LODESTAR_REGISTRY_POLL_SECONDS="1",
        LODESTAR_RETRAIN_INTERVAL_HOURS="0",
        LODESTAR_RETRAIN_AFTER_VERDICTS="0",
        LODESTAR_RETRAIN_JOB_ARGUMENTS=json.dumps({MODEL: RETRAIN_ARGUMENTS}),
        LODESTAR_DRIFT_MIN_ROWS="50",
        LODESTAR_DRIFT_WINDOW="400",
        LODESTAR_DRIFT_REFRESH_SECONDS="0",
    )
    log = tmp_path_factory.mktemp("living-server") / "server.log"
    with running_server(env, log) as (url, process):
        yield url
        assert process.poll() is None, "the server must run through the whole loop"


@pytest.fixture(scope="module")
def keys(cut_installation: tuple[ServiceSettings, list[Path]]) -> Keyring:
    return cut_installation[0].keyring()


def _loaded_version(url: str) -> str | None:
    ready = httpx.get(f"{url}/readyz", timeout=10).json()
    for model in ready["models"]:
        if model["name"] == MODEL:
            return str(model["version"]) if model["version"] is not None else None
    return None


def _post_piece(url: str, piece: Path, headers: dict[str, str]) -> list[dict[str, Any]]:
    answers = []
    for kind, path in piece_files(piece):
        answer = httpx.post(
            f"{url}/v1/ingest/{kind}",
            content=path.read_bytes(),
            params={"filename": f"{piece.name}-{path.name}"},
            headers={**headers, "Content-Type": "application/octet-stream"},
            timeout=120,
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["records_in"] == body["accepted"] + body["quarantined"]
        answers.append(body)
    return answers


def _released(piece: Path) -> list[dict[str, Any]]:
    path = piece / "procurement" / "releases.jsonl"
    if not path.exists():  # a piece may hold no release (statements only)
        return []
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _score(url: str, releases: list[dict[str, Any]], headers: dict[str, str]) -> set[str]:
    versions = set()
    for start in range(0, len(releases), BATCH):
        answer = httpx.post(
            f"{url}/v1/procurement/risk/batch",
            json={"releases": releases[start : start + BATCH]},
            headers=headers,
            timeout=120,
        )
        assert answer.status_code == 200, answer.text
        versions.add(answer.json()["model"]["version"])
    return versions


def _gauge(url: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        match = re.match(rf"{name}\{{(.*)\}} (\S+)$", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    return None


def _reviewed(url: str, admin: dict[str, str], version: str) -> int:
    """Alerts of ``version`` with a verdict, from the admin's drift and precision report."""
    drift = httpx.get(f"{url}/v1/admin/drift", headers=admin, timeout=30).json()
    rows = drift["alert_precision"]
    return sum(
        row["reviewed"] for row in rows if row["version"] == version and row["level"] == LEVEL_ALL
    )


def _wait(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1.0)


def test_the_loop_runs_without_a_restart(
    server: str, cut_installation: tuple[ServiceSettings, list[Path]], keys: Keyring
) -> None:
    _, pieces = cut_installation
    integration = bearer(keys, "platform", "integration")
    auditor = bearer(keys, "audit.zhao", "auditor")
    admin = bearer(keys, "admin.li", "admin")
    assert _loaded_version(server) == "1"

    # ingest: the weeks after the cut arrive through the API and are warned about
    pushed = [answer for piece in pieces for answer in _post_piece(server, piece, integration)]
    ocds = [answer for answer in pushed if answer["kind"] == "ocds"]
    assert sum(a["live"]["procurement"].get("new", 0) for a in ocds) > 0
    assert sum(a["live"]["procurement"].get("alerts_written", 0) for a in ocds) > 0
    after_cut = {release["ocid"] for piece in pieces for release in _released(piece)}
    page = httpx.get(
        f"{server}/v1/procurement/alerts", params={"limit": 500}, headers=auditor, timeout=30
    ).json()
    new_alerts = [alert for alert in page["alerts"] if alert["ocid"] in after_cut]
    assert new_alerts
    assert {alert["model"]["version"] for alert in new_alerts} == {"1"}

    # review: verdicts flow back as labels (beside the audit outcomes the platform pushed)
    reviewed_before = _reviewed(server, admin, "1")
    for position, alert in enumerate(new_alerts[:6]):
        verdict = (
            {"verdict": "confirmed", "scheme": "price_inflation"}
            if position % 2 == 0
            else {"verdict": "dismissed"}
        )
        reviewed = httpx.post(
            f"{server}/v1/procurement/alerts/{alert['alert_id']}/review",
            json=verdict,
            headers=auditor,
            timeout=30,
        )
        assert reviewed.status_code == 200, reviewed.text
    assert _reviewed(server, admin, "1") == reviewed_before + min(6, len(new_alerts))

    # retrain through the gate; the watcher swaps the new champion in
    started = httpx.post(
        f"{server}/v1/admin/retrain", json={"models": [MODEL]}, headers=admin, timeout=60
    )
    assert started.status_code == 202, started.text
    _wait(
        lambda: (
            not httpx.get(f"{server}/v1/admin/retrain", headers=admin, timeout=10).json()["running"]
        ),
        "the retrain",
    )
    status = httpx.get(f"{server}/v1/admin/retrain", headers=admin, timeout=10).json()
    assert status["exit_code"] == 0, status
    _wait(lambda: _loaded_version(server) == "2", "the new champion")
    recent = [release for piece in pieces for release in _released(piece)][-BATCH:]
    assert _score(server, recent, auditor) == {"2"}

    # drift: tripled prices move the unit-price ratio's PSI past the calm window's and raise
    # the warning (the score's own PSI may move either way: a shifted price need not raise risk)
    calm = _gauge(server, "lodestar_drift_psi", model=MODEL, feature=PRICE_FEATURE)
    shifted = [_tripled_prices(release) for piece in pieces for release in _released(piece)]
    _score(server, shifted[:400], auditor)
    assert _gauge(server, "lodestar_drift_warning", model=MODEL) == 1.0
    alarmed = _gauge(server, "lodestar_drift_psi", model=MODEL, feature=PRICE_FEATURE)
    assert alarmed is not None
    assert calm is None or alarmed > calm
