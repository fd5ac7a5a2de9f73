"""What every HTTP benchmark does around its servers: logging, running setup commands, the
server processes' environment, starting a server and waiting until its models are loaded,
and stopping it whatever happened.

Servers run in their own process group with stdout on a pipe, which is drained in a daemon
thread once the first line is read: an unread pipe fills and then blocks the server (MLflow's
scoring server stalled after about 950 requests that way).
"""

from __future__ import annotations

import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STOP_SECONDS = 20


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def run(command: list[str], env: dict[str, str] | None = None, *, timeout: float = 900) -> None:
    """Run a setup command from the repository root; exit with its stderr if it fails."""
    log(" ".join(command[:6]) + (" ..." if len(command) > 6 else ""))
    completed = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=timeout
    )
    if completed.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{completed.stderr[-3000:]}")


def environment(data_dir: Path, **extra: str) -> dict[str, str]:
    """A server's environment: the installation at ``data_dir`` (its keys beside it), log
    level warning (no access log), none of the caller's own ``LODESTAR_*``; ``extra`` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LODESTAR_")}
    env |= {
        "LODESTAR_DATA_DIR": str(data_dir),
        "LODESTAR_KEY_FILE": str(data_dir / "keys.json"),
        "LODESTAR_LOG_LEVEL": "warning",
        "LODESTAR_RATE_LIMITS": '{"enabled": false}',  # the load is the measurement
        "PYTHONUNBUFFERED": "1",
    }
    return env | extra


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(port: int, path: str) -> tuple[int, bytes] | None:
    """(status, body) of one GET on loopback; None when the server does not answer (or
    answers an error: a server that is up but not ready counts as not answering)."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        connection.close()
    except OSError:
        return None
    return (response.status, body) if response.status < 400 else None


def models_loaded(port: int, names: Collection[str]) -> bool:
    """``/readyz`` answers 200 and lists every model of ``names`` as loaded."""
    answer = get(port, "/readyz")
    if answer is None:
        return False
    loaded = {m["name"] for m in json.loads(answer[1]).get("models", []) if m["loaded"]}
    return set(names) <= loaded


def wait_until(
    check: Callable[[], bool], process: subprocess.Popen[str], what: str, seconds: float
) -> None:
    """Poll ``check`` until it holds; exit if the process ends or ``seconds`` pass first."""
    deadline = time.monotonic() + seconds
    while not check():
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} not ready in {seconds:.0f} s")
        time.sleep(0.25)


def drain(process: subprocess.Popen[str]) -> None:
    """Read and drop the rest of a server's stdout in a daemon thread."""
    stream = process.stdout
    assert stream is not None

    def run() -> None:
        try:
            for _ in stream:
                pass
        except (OSError, ValueError):  # closed when the server stops
            pass

    threading.Thread(target=run, daemon=True).start()


@contextmanager
def server(command: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen]:
    """A server process in its own process group, stderr to ``log_path``, stdout a pipe the
    caller reads then ``drain``s; stopped on exit (SIGTERM, then SIGKILL)."""
    with log_path.open("w") as server_log:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=server_log,
            text=True,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=STOP_SECONDS)
            if process.stdout is not None:
                process.stdout.close()


@contextmanager
def our_server(
    env: dict[str, str],
    log_path: Path,
    models: Collection[str],
    *,
    startup_seconds: float,
    ready_seconds: float | None = None,
) -> Iterator[int]:
    """``python -m serving run --port 0``; its port, once ``/readyz`` lists ``models`` as
    loaded (the service starts without a missing one, so readiness alone is not enough).
    It has ``startup_seconds`` to print its address, then ``ready_seconds`` (default: the
    same) to load the models."""
    command = [sys.executable, "-m", "serving", "run", "--port", "0"]
    with server(command, env, log_path) as process:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], startup_seconds)
        line = process.stdout.readline() if ready else ""
        if not line.startswith("Lodestar serving on http://"):
            raise SystemExit(f"our server did not start: {log_path.read_text()[-2000:]}")
        port = int(line.rsplit(":", 1)[1].strip().rstrip("/"))
        drain(process)
        what = f"our server (log: {log_path})"
        wait_for = startup_seconds if ready_seconds is None else ready_seconds
        wait_until(lambda: models_loaded(port, models), process, what, wait_for)
        yield port


def met(flag: bool) -> str:
    return "met" if flag else "**not met**"
