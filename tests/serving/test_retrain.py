"""Retraining through the running service: ``POST /v1/admin/retrain`` starts the training job
in its own low-priority process on a fresh snapshot, its status shows it finishing with the
gate's verdict, a second start while it runs is a 409, and only an admin may do either. The
schedule starts a retrain once enough verdicts have arrived.

Real pieces: the small installation's store, a real MLflow SQLite registry, the real
training command (small options) in a real subprocess."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.settings import Keyring
from serving.app import create_app
from serving.live.retrain import JobResult, Retrainer, RetrainScheduler, job_result
from serving.settings import ServiceSettings
from tests.serving.conftest import bearer
from tests.serving.installations import own_installation

RETRAIN = "/v1/admin/retrain"
FINISH_SECONDS = 240.0
SMALL_RISK_ARGUMENTS = [
    "--train-end",
    "2025-06-01",
    "--calibration-end",
    "2025-07-01",
    "--n-estimators",
    "20",
    "--num-leaves",
    "7",
    "--min-data-in-leaf",
    "5",
]


@pytest.fixture(scope="module")
def installation(
    small_installation: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> ServiceSettings:
    """The small installation with its own store and an empty registry; retraining the risk
    model uses small options; no schedule, no watcher."""
    settings = own_installation(small_installation, tmp_path_factory.mktemp("retrain"))
    return settings.model_copy(
        update={
            "registry_poll_seconds": 0.0,
            "retrain_interval_hours": 0.0,
            "retrain_after_verdicts": 0,
            "retrain_job_arguments": {"procurement-risk": SMALL_RISK_ARGUMENTS},
        }
    )


@pytest.fixture(scope="module")
def keys(installation: ServiceSettings) -> Keyring:
    return installation.keyring()


@pytest.fixture(scope="module")
def api(installation: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(create_app(installation)) as client:
        yield client


def wait_finished(api: TestClient, admin: dict[str, str]) -> dict:
    deadline = time.monotonic() + FINISH_SECONDS
    while time.monotonic() < deadline:
        status = api.get(RETRAIN, headers=admin).json()
        if not status["running"]:
            return status
        time.sleep(1.0)
    raise AssertionError(f"the retrain did not finish: {api.get(RETRAIN, headers=admin).json()}")


def test_only_an_admin_may_retrain(api: TestClient, keys: Keyring) -> None:
    auditor = bearer(keys, "audit.zhao", "auditor")
    assert api.post(RETRAIN, json={}, headers=auditor).status_code == 403
    assert api.get(RETRAIN, headers=auditor).status_code == 403
    assert api.post(RETRAIN, json={}).status_code == 401
    unknown = api.post(RETRAIN, json={"models": ["weather"]}, headers=bearer(keys, "a", "admin"))
    assert unknown.status_code == 422


def test_a_retrain_runs_to_the_gate_and_a_second_start_is_refused(
    api: TestClient, keys: Keyring
) -> None:
    admin = bearer(keys, "ops.li", "admin", ttl=timedelta(minutes=10))
    started = api.post(RETRAIN, json={"models": ["procurement-risk"]}, headers=admin)
    assert started.status_code == 202, started.text
    assert started.json()["running"] is True
    assert started.json()["trigger"] == "admin"
    again = api.post(RETRAIN, json={}, headers=admin)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "retrain_in_progress"
    status = wait_finished(api, admin)
    assert status["exit_code"] == 0, status
    [job] = status["jobs"]
    assert job["model"] == "procurement-risk"
    assert job["exit_code"] == 0
    assert job["version"] == "1"
    assert job["promoted"] is True  # an empty registry: no champion yet
    assert job["gate_reason"] == "no champion yet"
    assert status["snapshot"]
    assert any("procurement-risk v1" in line for line in status["output_tail"])
    # the watcher (polled by hand here) picks the new champion up
    swapped = api.app.state.watcher.check()  # type: ignore[attr-defined]
    assert swapped == ["procurement-risk"]
    [model] = [m for m in api.get("/readyz").json()["models"] if m["name"] == "procurement-risk"]
    assert model["version"] == "1"
    assert model["loaded"] is True


def test_the_job_result_is_read_from_the_last_line() -> None:
    lines = [
        "split: ...",
        "run abc123: supplier-esg v7 PR-AUC 0.61 vs 0.64; stays challenger (9.1 s)",
    ]
    assert job_result("supplier-esg", 0, lines) == JobResult(
        model="supplier-esg",
        exit_code=0,
        version="7",
        promoted=False,
        gate_reason="PR-AUC 0.61 vs 0.64",
    )
    assert job_result("mastery", 1, ["error: no snapshot"]) == JobResult("mastery", 1)


class CountingRetrainer(Retrainer):
    """A retrainer whose runs are recorded, not started (the schedule's decision alone)."""

    def __init__(self, settings: ServiceSettings) -> None:
        super().__init__(None, settings)
        self.started: list[str] = []

    def start(self, models, trigger):
        self.started.append(trigger)
        return self.status()


def test_the_schedule_retrains_after_enough_verdicts(installation: ServiceSettings) -> None:
    retrainer = CountingRetrainer(installation)
    verdicts = [3]
    schedule = RetrainScheduler(
        retrainer,
        interval_hours=0.0,
        after_verdicts=2,
        check_seconds=60.0,
        verdicts=lambda: verdicts[0],
    )
    schedule.start()
    schedule.stop()
    verdicts[0] = 4
    assert schedule.check() is None
    verdicts[0] = 5
    assert schedule.check() == "verdicts"
    assert schedule.check() is None  # counted again from this retrain
    assert retrainer.started == ["verdicts"]


def test_retraining_turned_off_is_a_409_and_nothing_is_scheduled(
    small_installation: dict[str, str], tmp_path: Path
) -> None:
    """Its own store copy: the module's service holds the other one."""
    settings = own_installation(small_installation, tmp_path).model_copy(
        update={"retrain_enabled": False, "retrain_after_verdicts": 1}
    )
    with TestClient(create_app(settings)) as client:
        admin = bearer(settings.keyring(), "admin.li", "admin")
        answer = client.post(RETRAIN, json={}, headers=admin)
        assert answer.status_code == 409
        assert "turned off" in answer.json()["error"]["message"]
        assert client.get(RETRAIN, headers=admin).json()["running"] is False
        assert not client.app.state.retrain_schedule.running  # type: ignore[attr-defined]
