"""The command line, and one end-to-end run of a real uvicorn server in a subprocess."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.settings import Keyring
from serving.cli import listening_socket, main
from serving.platform.audit_journal import journal_dir_for
from serving.platform.auth import verify_token
from serving.settings import ServiceSettings
from store.database import Store
from tests.conftest import REPO_ROOT
from tests.serving.real_server import SHUTDOWN_SECONDS, running_server, server_environment


def _token(settings: ServiceSettings, subject: str, role: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-m", "serving", "token", "--subject", subject, "--role", role],
        env=server_environment(settings),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return completed.stdout.strip()


def test_token_command_prints_a_verifiable_token(
    service_settings: ServiceSettings, service_keyring: Keyring, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--key-file", str(service_settings.key_file), "--data-dir", "unused"]
    code = main(["token", *args, "--subject", "E1001", "--role", "member", "--ttl-minutes", "3"])
    assert code == 0
    principal = verify_token(service_keyring, capsys.readouterr().out.strip())
    assert (principal.subject, principal.role) == ("E1001", "member")


def test_token_command_without_keys_fails_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["token", "--key-file", str(tmp_path / "none.json"), "--subject", "a", "--role", "admin"]
    )
    assert code == 2
    assert "missing secret" in capsys.readouterr().err


def test_run_refuses_several_workers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--workers", "2"]) == 2
    assert "DuckDB" in capsys.readouterr().err


def test_listening_socket_sets_nodelay() -> None:
    sock = listening_socket("127.0.0.1", 0)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        sock.close()


@pytest.fixture
def server(service_settings: ServiceSettings, tmp_path: Path) -> Iterator[str]:
    """A real server for the test; checks that it shuts down gracefully on SIGTERM."""
    env = server_environment(service_settings)
    with running_server(env, tmp_path / "server.log") as (base_url, process):
        yield base_url
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    server_log = (tmp_path / "server.log").read_text()
    assert process.returncode in (0, -signal.SIGTERM), server_log
    assert "Application shutdown complete" in server_log


def test_real_server_end_to_end(server: str, service_settings: ServiceSettings) -> None:
    member = _token(service_settings, "E1001", "member")
    security_auditor = _token(service_settings, "sec.wang", "security_auditor")
    with httpx.Client(base_url=server, timeout=10) as http:
        whoami = http.get("/v1/whoami", headers={"Authorization": f"Bearer {member}"})
        assert whoami.status_code == 200
        assert whoami.json()["subject"] == "E1001"
        assert whoami.headers["x-request-id"]
        record = http.get("/v1/members/E1001", headers={"Authorization": f"Bearer {member}"})
        assert record.json()["name"] == "张伟"
        assert http.get("/v1/members/E1001").status_code == 401
        # Several requests on one keep-alive connection answer promptly.
        started = time.monotonic()
        for _ in range(20):
            assert http.get("/healthz").status_code == 200
        assert time.monotonic() - started < 5
        log = http.get(
            "/v1/audit-log", headers={"Authorization": f"Bearer {security_auditor}"}
        ).json()
        assert log["chain_valid"] is True
        api = [entry for entry in log["entries"] if entry["resource"].startswith("/v1/")]
        assert [entry["status_code"] for entry in api] == [200, 200, 401]
        health = [entry for entry in log["entries"] if entry["resource"] == "/healthz"]
        assert len(health) == 20  # public paths are audited too


def test_demo_credentials_issue_a_token_per_role(
    service_settings: ServiceSettings,
    service_keyring: Keyring,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    learning = tmp_path / "data" / "world" / "learning"
    learning.mkdir(parents=True)
    (learning / "members.csv").write_text("employee_no,name\nE777001,张三\n", encoding="utf-8")
    args = ["--key-file", str(service_settings.key_file), "--data-dir", str(tmp_path / "data")]
    assert main(["demo-credentials", *args]) == 0
    printed = capsys.readouterr().out
    tokens = {
        line.split()[0]: line.split()[-1] for line in printed.splitlines() if line.count(".") == 2
    }
    assert set(tokens) >= {
        "admin",
        "security_auditor",
        "auditor",
        "procurement_manager",
        "esg_analyst",
        "member",
        "integration",
    }
    member = verify_token(service_keyring, tokens["member"])
    assert (member.subject, member.role) == ("E777001", "member")
    saved = tmp_path / "data" / "demo-credentials.txt"
    assert saved.read_text(encoding="utf-8").strip() == printed.strip()
    assert saved.stat().st_mode & 0o077 == 0


def test_a_killed_server_loses_no_audit_entry(
    service_settings: ServiceSettings, service_keyring: Keyring, tmp_path: Path
) -> None:
    """SIGKILL after answering, before the entries reach the table: the journal has them,
    and the next start puts them in the log, chain intact."""
    security_auditor = _token(service_settings, "sec.wang", "security_auditor")
    slow_mover = {"LODESTAR_AUDIT_MOVE_SECONDS": "3600"}
    env = server_environment(service_settings)
    with running_server(env | slow_mover, tmp_path / "killed.log") as (url, process):
        for request_id in ("answered-1", "answered-2"):
            response = httpx.get(
                f"{url}/v1/whoami",
                headers={"Authorization": f"Bearer {security_auditor}", "X-Request-ID": request_id},
            )
            assert response.status_code == 200
        process.kill()
        process.wait(timeout=SHUTDOWN_SECONDS)
    journal = journal_dir_for(service_settings.resolved_store_path)
    assert sum(path.stat().st_size for path in journal.iterdir()) > 0
    with Store.open(service_settings, service_keyring, read_only=True) as store:
        assert store.count("audit_log") == 0

    with running_server(env, tmp_path / "restarted.log") as (url, _):
        page = httpx.get(
            f"{url}/v1/audit-log", headers={"Authorization": f"Bearer {security_auditor}"}
        )
    entries = page.json()["entries"]  # with the readiness polls: public paths are audited
    assert [entry["request_id"] for entry in entries if entry["resource"].startswith("/v1/")] == [
        "answered-1",
        "answered-2",
    ]
    assert page.json()["chain_valid"] is True
    assert re.search(r"replayed \d+ audit entries", (tmp_path / "restarted.log").read_text())
