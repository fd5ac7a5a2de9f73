"""Snapshots through the running service: admin only, one at a time, and on a schedule."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.settings import Keyring
from serving.api.routes import snapshots
from serving.app import create_app
from serving.live.snapshots import SnapshotScheduler, SnapshotWriter
from serving.settings import ServiceSettings
from store.snapshot import latest_snapshot, list_snapshots, open_snapshot, snapshot_root
from tests.serving.conftest import MEMBERS, bearer


@pytest.fixture
def snapshot_client(service_settings: ServiceSettings) -> Iterator[TestClient]:
    app = create_app(service_settings)
    app.include_router(snapshots.router, prefix="/v1")
    with TestClient(app) as test_client:
        yield test_client


def test_admin_writes_and_lists_snapshots(
    snapshot_client: TestClient, service_settings: ServiceSettings, service_keyring: Keyring
) -> None:
    admin = bearer(service_keyring, "root", "admin")
    created = snapshot_client.post("/v1/admin/snapshots", headers=admin)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["rows"]["members"] == len(MEMBERS)
    assert Path(body["path"]) == latest_snapshot(service_settings.data_dir)
    with open_snapshot(Path(body["path"]), service_keyring) as snapshot:
        assert snapshot.count("members") == len(MEMBERS)
        assert snapshot.count("audit_log") == body["rows"]["audit_log"]

    second = snapshot_client.post("/v1/admin/snapshots", headers=admin).json()
    listed = snapshot_client.get("/v1/admin/snapshots", headers=admin)
    assert listed.status_code == 200
    assert [s["name"] for s in listed.json()["snapshots"]] == [second["name"], body["name"]]


@pytest.mark.parametrize("role", ["auditor", "member", "security_auditor"])
def test_only_the_admin_may(
    snapshot_client: TestClient,
    service_settings: ServiceSettings,
    service_keyring: Keyring,
    role: str,
) -> None:
    caller = bearer(service_keyring, "E1001", role)
    for method in ("post", "get"):
        answer = getattr(snapshot_client, method)("/v1/admin/snapshots", headers=caller)
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "forbidden"
    assert list_snapshots(snapshot_root(service_settings.data_dir)) == []


def test_a_second_request_while_one_is_written_gets_409(
    snapshot_client: TestClient, service_keyring: Keyring
) -> None:
    admin = bearer(service_keyring, "root", "admin")
    assert snapshot_client.get("/v1/admin/snapshots", headers=admin).status_code == 200
    writer: SnapshotWriter = snapshot_client.app.state.snapshots  # type: ignore[attr-defined]
    with writer._writing:  # a snapshot being written
        answer = snapshot_client.post("/v1/admin/snapshots", headers=admin)
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "snapshot_in_progress"


def test_the_scheduler_writes_snapshots_until_stopped(
    snapshot_client: TestClient, service_settings: ServiceSettings
) -> None:
    runtime = snapshot_client.app.state.runtime  # type: ignore[attr-defined]
    writer = SnapshotWriter.for_runtime(runtime, service_settings)
    root = snapshot_root(service_settings.data_dir)
    scheduler = SnapshotScheduler(writer, interval_hours=0.2 / 3600)
    scheduler.start()
    deadline = time.monotonic() + 10
    while len(list_snapshots(root)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    scheduler.stop(timeout_s=10)
    assert not scheduler.running
    written = len(list_snapshots(root))
    assert written >= 2
    time.sleep(0.5)
    assert len(list_snapshots(root)) == written


def test_an_interval_of_zero_schedules_nothing(
    snapshot_client: TestClient, service_settings: ServiceSettings
) -> None:
    runtime = snapshot_client.app.state.runtime  # type: ignore[attr-defined]
    scheduler = SnapshotScheduler(SnapshotWriter.for_runtime(runtime, service_settings), 0)
    scheduler.start()
    assert not scheduler.running
    assert service_settings.snapshot_interval_hours == 6.0
