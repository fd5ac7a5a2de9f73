"""A real ``python -m serving run`` in a subprocess, for the end-to-end tests."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from serving.settings import ServiceSettings
from tests.conftest import REPO_ROOT

STARTUP_SECONDS = 90
SHUTDOWN_SECONDS = 15


def server_environment(settings: ServiceSettings, **extra: str) -> dict[str, str]:
    """The environment of a server process for ``settings`` (its data folder, key file, and
    its store path and tracking URI when set), without the caller's own ``LODESTAR_*``;
    ``extra`` variables on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LODESTAR_")}
    env |= {
        "LODESTAR_ENVIRONMENT": "test",
        "LODESTAR_RATE_LIMITS": '{"enabled": false}',
        "LODESTAR_DATA_DIR": str(settings.data_dir),
        "LODESTAR_KEY_FILE": str(settings.key_file),
        "PYTHONUNBUFFERED": "1",
    }
    if settings.store_path is not None:
        env["LODESTAR_STORE_PATH"] = str(settings.store_path)
    if settings.mlflow_tracking_uri is not None:
        env["LODESTAR_MLFLOW_TRACKING_URI"] = settings.mlflow_tracking_uri
    return env | extra


@contextmanager
def running_server(
    env: dict[str, str], log_path: Path, *, startup_seconds: float = STARTUP_SECONDS
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """The server on a free port, once ``/readyz`` answers 200: (base URL, process). On exit
    it is stopped with SIGTERM (killed if it does not stop) unless it already ended."""
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "serving", "run", "--port", "0"],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], startup_seconds)
        line = process.stdout.readline() if ready else ""
        assert line.startswith("Lodestar serving on http://"), log_path.read_text()
        base_url = line.split(" on ", 1)[1].strip()
        deadline = time.monotonic() + startup_seconds
        while True:
            try:
                if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "server not ready in time"
            time.sleep(0.1)
        yield base_url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=SHUTDOWN_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=SHUTDOWN_SECONDS)
            pytest.fail("server did not stop on SIGTERM")
        finally:
            log.close()
            if process.stdout is not None:
                process.stdout.close()
