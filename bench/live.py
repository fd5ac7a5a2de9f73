"""The living service: ingest to alert, a champion swapped mid-run, a background retrain and
the ingestion rate, each beside a baseline measured in the same run.

    python bench/live.py [--scale 0.5] [--workdir /tmp/lodestar-bench-live] [--seconds 15]
                         [--ingest-only]

Setup: a demo world at ``--scale`` is cut at ``CUT_DATE`` (``world.cut``); the
installation is made from ``before/`` alone (``lodestar demo`` on that world, the champion
trained and the store scored: ``bench.procurement.installation``), so every release dated
after the cut is new to it. The first ``PUSH_RELEASES`` of those, in date order, are written
as files of ``RELEASES_PER_FILE``; the rest is one large file.

1. Ingest to alert: one integration client posts the files one after another
   (``POST /v1/ingest/ocds``, ``ingest.client.send_file``) while ``CLIENTS`` clients
   score on ``POST /v1/procurement/risk``. Per process: the push-to-alert time its file's
   answer reports, and the wall time from the POST's start to the answer. Baseline, the batch
   path (no service): ``lodestar ingest --local`` of the same file into a copy of the store,
   then ``python -m training.procurement_risk score --store-write``: wall time from file to
   alerts (``BASELINE_FILES`` files). Also the risk route's p50/p99 during the ingest against
   the same clients with no ingest (idle).
2. Swap at ``SWAP_CLIENTS`` clients: a new version of the champion's model (same source) is
   registered and the alias moved; the watcher polls every second. Failed requests and p99
   in the swap window (from the move until ``SWAP_TAIL_SECONDS`` after ``/readyz`` shows the
   new version, which covers re-scoring the open alerts) against the steady state before.
3. A retrain (``POST /v1/admin/retrain``, procurement-risk only, a small model that the gate
   never promotes, so only the retrain's cost is measured) under ``CLIENTS`` clients: p99
   against idle.
4. Ingestion rate of the large file through the service against ``lodestar ingest --local``
   of the same file into the copy of the store.

Load: ``bench.load.drive`` in slices of ``SLICE_SECONDS`` (each its own keep-alive
connections), so a phase's requests can be told apart by when they ran; every slice and
every phase is bounded in time; loopback only.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.load import Load, Request, drive  # noqa: E402
from bench.procurement import installation, payloads, procurement_environment  # noqa: E402
from bench.results import write_section  # noqa: E402
from bench.server import BIN, environment, get, log, met, our_server  # noqa: E402

MODEL = "procurement-risk"
CUT_DATE = date(2025, 10, 1)
PIECE_DAYS = 7
PUSH_RELEASES = 1_000
RELEASES_PER_FILE = 50
BASELINE_FILES = 3
CLIENTS = 32
SWAP_CLIENTS = 64
SLICE_SECONDS = 1.0
SLICE_REQUESTS = 1_000_000  # a slice ends on time, not on count
WARMUP_REQUESTS = 200
STARTUP_SECONDS = 180
SWAP_TAIL_SECONDS = 5.0
SWAP_WAIT_SECONDS = 120.0
RETRAIN_SECONDS = 300.0
INGEST_SECONDS = 600.0
TARGET_PUSH_TO_ALERT_S = 1.0
TARGET_SWAP_RATIO = 2.0
RETRAIN_ARGUMENTS = ["--n-estimators", "30", "--min-improvement", "1"]


# --------------------------------------------------------------------------------------------
# Pure helpers


@dataclass
class Slice:
    """One bounded load slice: its monotonic start and end (seconds) and what it measured."""

    started: float
    ended: float
    load: Load


def merge(loads: Sequence[Load]) -> Load:
    """One ``Load`` of several: latencies and errors summed, seconds added."""
    merged = Load()
    for load in loads:
        merged.latencies_s += load.latencies_s
        merged.errors += load.errors
        merged.seconds += load.seconds
        merged.first_error = merged.first_error or load.first_error
    return merged


def overlapping(slices: Sequence[Slice], start: float, end: float) -> list[Slice]:
    """The slices that ran at any moment of ``[start, end]`` (same clock as the slices)."""
    return [s for s in slices if s.ended >= start and s.started <= end]


def weighted_quantile(values: Sequence[float], weights: Sequence[int], q: float) -> float:
    """The ``q`` quantile of ``values`` where value i counts ``weights[i]`` times (the lower
    of two neighbours, as a per-process figure from per-file values); NaN when empty."""
    pairs = sorted((v, w) for v, w in zip(values, weights, strict=True) if w > 0)
    total = sum(w for _, w in pairs)
    if not total:
        return math.nan
    rank = max(1, math.ceil(q * total))
    seen = 0
    for value, weight in pairs:
        seen += weight
        if seen >= rank:
            return float(value)
    return float(pairs[-1][0])


def batches(lines: Sequence[str], size: int) -> list[list[str]]:
    """``lines`` in consecutive groups of ``size`` (the last may be shorter)."""
    return [list(lines[i : i + size]) for i in range(0, len(lines), size)]


# --------------------------------------------------------------------------------------------
# Setup


@dataclass
class Prepared:
    data_dir: Path
    push_files: list[Path]
    large_file: Path
    large_releases: int


def prepare(work: Path, scale: float) -> Prepared:
    """The installation from the world before the cut, and the files to push after it."""
    from world.cut import AFTER, cut_world, piece_files

    pristine, full, cut = work / "installation", work / "full", work / "cut"
    if not (pristine / "lodestar.duckdb").exists():
        shutil.rmtree(pristine, ignore_errors=True)
        shutil.rmtree(cut, ignore_errors=True)
        if not (full / "world" / "manifest.json").exists():
            generate = [str(BIN / "lodestar"), "generate", "--scale", str(scale)]
            run_logged([*generate, "--data-dir", str(full), "--quiet"], environment(full))
        log(f"cutting the world at {CUT_DATE}")
        done = cut_world(full / "world", cut, CUT_DATE, piece_days=PIECE_DAYS)
        pristine.mkdir(parents=True)
        shutil.copytree(done.before, pristine / "world")
        if (full / "truth").exists():
            shutil.copytree(full / "truth", pristine / "truth")
    installation(pristine, scale, train=True)
    data_dir = installation_copy(pristine, work / "service")
    releases: list[str] = []
    for piece in sorted((cut / AFTER).iterdir()):
        for kind, path in piece_files(piece):
            if kind == "ocds":
                releases += [line for line in path.read_text(encoding="utf-8").splitlines() if line]
    if len(releases) <= PUSH_RELEASES:
        raise SystemExit(f"only {len(releases)} releases after {CUT_DATE}: raise --scale")
    push = work / "push"
    shutil.rmtree(push, ignore_errors=True)
    push.mkdir()
    files = []
    for n, group in enumerate(batches(releases[:PUSH_RELEASES], RELEASES_PER_FILE), start=1):
        path = push / f"releases-{n:03d}.jsonl"
        path.write_text("\n".join(group) + "\n", encoding="utf-8")
        files.append(path)
    large = push / "releases-rest.jsonl"
    large.write_text("\n".join(releases[PUSH_RELEASES:]) + "\n", encoding="utf-8")
    return Prepared(data_dir, files, large, len(releases) - PUSH_RELEASES)


def run_logged(command: list[str], env: dict[str, str], timeout: float = 900) -> float:
    """Run a command from the repository root; its wall seconds (exit with stderr on failure)."""
    log(" ".join(Path(c).name if c.startswith("/") else c for c in command[:7]))
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=timeout
    )
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


# --------------------------------------------------------------------------------------------
# Baselines with the service stopped


@dataclass
class BatchBaseline:
    file_seconds: list[float] = field(default_factory=list)  # file to alerts, per file
    ingest_seconds: list[float] = field(default_factory=list)
    score_seconds: list[float] = field(default_factory=list)
    cli_large_seconds: float = math.nan


def installation_copy(pristine: Path, copy: Path) -> Path:
    """A fresh copy of the installation as it was made (store, keys, world, tracking
    database), so every run pushes into the same state; the registered versions' artifacts
    stay where the pristine tracking database says they are."""
    shutil.rmtree(copy, ignore_errors=True)
    ignore = shutil.ignore_patterns("snapshots", "mlartifacts*", "ingest-spool", "*.stale-*")
    shutil.copytree(pristine, copy, ignore=ignore)
    return copy


def batch_baseline(copy: Path, prepared: Prepared) -> BatchBaseline:
    """The batch path on the copy: ingest then score, per file; then the large file."""
    env = procurement_environment(copy)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{copy.resolve() / 'mlflow.db'}"
    installation_options = ["--data-dir", str(copy), "--key-file", str(copy / "keys.json")]
    ingest = [str(BIN / "lodestar"), "ingest", "--local", "--kind", "ocds", "--quiet"]
    score = [sys.executable, "-m", "training.procurement_risk", "score", "--store-write"]
    baseline = BatchBaseline()
    for path in prepared.push_files[:BASELINE_FILES]:
        ingested = run_logged([*ingest, *installation_options, str(path)], env)
        scored = run_logged([*score, *installation_options, "--quiet"], env)
        baseline.ingest_seconds.append(ingested)
        baseline.score_seconds.append(scored)
        baseline.file_seconds.append(ingested + scored)
        log(f"batch path {path.name}: ingest {ingested:.1f} s + score {scored:.1f} s")
    baseline.cli_large_seconds = run_logged(
        [*ingest, *installation_options, str(prepared.large_file)], env
    )
    log(f"CLI ingest of {prepared.large_releases:,} releases: {baseline.cli_large_seconds:.1f} s")
    return baseline


# --------------------------------------------------------------------------------------------
# Load in slices


def load_slices(
    port: int,
    requests: list[Request],
    headers: dict[str, str],
    *,
    clients: int,
    seconds: float,
    until: Callable[[], bool] = lambda: False,
) -> list[Slice]:
    """Load in ``SLICE_SECONDS`` slices for at most ``seconds``, stopping early once
    ``until()`` holds (checked between slices)."""
    slices: list[Slice] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0.05 and not until():
        started = time.monotonic()
        load = drive(
            port,
            requests,
            headers,
            clients=clients,
            total=SLICE_REQUESTS,
            seconds=min(SLICE_SECONDS, left),
            timeout=30.0,
        )
        slices.append(Slice(started, time.monotonic(), load))
    return slices


def describe(name: str, load: Load) -> str:
    return (
        f"{name}: {load.requests:,} requests, {load.errors} failed, p50 "
        f"{load.percentile_ms(0.5):.1f} ms, p99 {load.percentile_ms(0.99):.1f} ms"
    )


# --------------------------------------------------------------------------------------------
# Phases against the running service


@dataclass
class Pushed:
    """One posted file: its answer (None when it failed), wall seconds, and the error."""

    answer: dict[str, Any] | None
    wall_seconds: float
    error: str = ""

    @property
    def processes(self) -> int:
        counts = (self.answer or {}).get("live", {}).get("procurement", {})
        return int(counts.get("new", 0)) + int(counts.get("changed", 0))

    def live_seconds(self, name: str) -> float:
        """A figure of the answer's ``live`` section (NaN when absent)."""
        value = (self.answer or {}).get("live", {}).get(name)
        return math.nan if value is None else float(value)

    @property
    def commit_to_alert(self) -> float:
        return self.live_seconds("commit_to_alert_seconds")

    @property
    def push_to_alert(self) -> float:
        return self.live_seconds("push_to_alert_seconds")

    @property
    def phases(self) -> dict[str, float]:
        return dict((self.answer or {}).get("live", {}).get("phase_seconds", {}))


def phase_means(pushed: Sequence[Pushed]) -> str:
    """Mean seconds per file of each phase the answers time, as ``name 12 ms`` pairs."""
    totals: dict[str, list[float]] = {}
    for p in pushed:
        for name, seconds in p.phases.items():
            totals.setdefault(name, []).append(float(seconds))
    return ", ".join(f"{name} {ms(float(np.mean(values)))} ms" for name, values in totals.items())


def ingest_figures(pushed: Sequence[Pushed]) -> dict[str, float]:
    """Per-process p50 and p99 of commit to alert, push to alert and wall: each file's
    figure counts once per process it made new or changed."""
    ok = [p for p in pushed if p.answer is not None]
    weights = [p.processes for p in ok]
    figures = {}
    for name, values in (
        ("commit", [p.commit_to_alert for p in ok]),
        ("push", [p.push_to_alert for p in ok]),
        ("wall", [p.wall_seconds for p in ok]),
    ):
        for q in (0.5, 0.99):
            figures[f"{name}{round(q * 100)}"] = weighted_quantile(values, weights, q)
    return figures


def post_files(port: int, token: str, files: Sequence[Path]) -> list[Pushed]:
    from ingest.client import ServiceIngestError, send_file

    pushed = []
    for path in files:
        started = time.perf_counter()
        try:
            answer = send_file(f"http://127.0.0.1:{port}", token, "ocds", path)
            pushed.append(Pushed(answer, time.perf_counter() - started))
        except ServiceIngestError as error:
            pushed.append(Pushed(None, time.perf_counter() - started, str(error)[:300]))
    return pushed


def in_background(work: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run ``work`` in a daemon thread; its result lands in the returned list."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(work()), daemon=True)
    thread.start()
    return thread, out


def ingest_under_load(
    port: int, requests: list[Request], headers: dict[str, str], token: str, files: list[Path]
) -> tuple[list[Pushed], Load]:
    thread, out = in_background(lambda: post_files(port, token, files))
    slices = load_slices(
        port,
        requests,
        headers,
        clients=CLIENTS,
        seconds=INGEST_SECONDS,
        until=lambda: not thread.is_alive(),
    )
    thread.join(timeout=INGEST_SECONDS)
    if not out:
        raise SystemExit("the ingest did not finish in time")
    return out[0], merge([s.load for s in slices])


def loaded_version(port: int) -> str | None:
    answer = get(port, "/readyz")
    if answer is None:
        return None
    for model in json.loads(answer[1]).get("models", []):
        if model["name"] == MODEL and model["loaded"]:
            return str(model["version"])
    return None


def move_champion(uri: str) -> str:
    """Register a new version of the champion's model (same source) and move the alias to
    it; the new version."""
    import mlflow

    # The registry resolves a ``models:/m-...`` source through the default tracking store.
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    champion = client.get_model_version_by_alias(MODEL, "champion")
    new = client.create_model_version(
        MODEL,
        source=str(champion.source),
        run_id=champion.run_id,
        description="bench/live.py: the champion's model registered again to move the alias",
    )
    client.set_registered_model_alias(MODEL, "champion", str(new.version))
    return str(new.version)


@dataclass
class Swap:
    old: str
    new: str
    steady: Load
    window: Load
    moved_to_loaded_s: float
    answers_version: str | None


def swap_under_load(
    port: int, requests: list[Request], headers: dict[str, str], uri: str, seconds: float
) -> Swap:
    old = loaded_version(port) or "?"
    steady = load_slices(port, requests, headers, clients=SWAP_CLIENTS, seconds=seconds)
    moved_at = time.monotonic()
    new = move_champion(uri)
    log(f"alias moved: v{old} -> v{new}")
    seen: list[float] = []

    def watch() -> None:
        deadline = time.monotonic() + SWAP_WAIT_SECONDS
        while time.monotonic() < deadline:
            if loaded_version(port) == new:
                seen.append(time.monotonic())
                return
            time.sleep(0.1)

    watcher, _ = in_background(watch)
    swapping = load_slices(
        port,
        requests,
        headers,
        clients=SWAP_CLIENTS,
        seconds=SWAP_WAIT_SECONDS + SWAP_TAIL_SECONDS,
        until=lambda: bool(seen) and time.monotonic() > seen[0] + SWAP_TAIL_SECONDS,
    )
    watcher.join(timeout=SWAP_WAIT_SECONDS)
    if not seen:
        raise SystemExit(f"/readyz never showed v{new} of {MODEL}")
    window = overlapping(swapping, moved_at, seen[0] + SWAP_TAIL_SECONDS)
    return Swap(
        old=old,
        new=new,
        steady=merge([s.load for s in steady]),
        window=merge([s.load for s in window]),
        moved_to_loaded_s=seen[0] - moved_at,
        answers_version=answer_version(port, requests[0], headers),
    )


def answer_version(port: int, request: Request, headers: dict[str, str]) -> str | None:
    method, path, body = request
    call = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body, headers=headers, method=method
    )
    with urllib.request.urlopen(call, timeout=30) as response:
        return str(json.load(response)["model"]["version"])


def call_json(
    port: int, method: str, path: str, token: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    call = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, headers=headers, method=method
    )
    with urllib.request.urlopen(call, timeout=60) as response:
        answer: dict[str, Any] = json.load(response)
    return answer


@dataclass
class Retrain:
    load: Load
    seconds: float
    status: dict[str, Any]


def retrain_under_load(
    port: int, requests: list[Request], headers: dict[str, str], admin: str
) -> Retrain:
    started = time.monotonic()
    call_json(port, "POST", "/v1/admin/retrain", admin, {"models": [MODEL]})
    status: dict[str, Any] = {}

    def finished() -> bool:
        status.update(call_json(port, "GET", "/v1/admin/retrain", admin))
        return not status["running"]

    slices = load_slices(
        port, requests, headers, clients=CLIENTS, seconds=RETRAIN_SECONDS, until=finished
    )
    if not finished():
        raise SystemExit(f"the retrain did not end in {RETRAIN_SECONDS:.0f} s")
    return Retrain(merge([s.load for s in slices]), time.monotonic() - started, status)


# --------------------------------------------------------------------------------------------
# Report


def ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{1000 * seconds:,.0f}"


@dataclass
class Figures:
    scale: float
    idle: Load
    during_ingest: Load
    pushed: list[Pushed]
    baseline: BatchBaseline
    swap: Swap
    retrain: Retrain
    large: Pushed
    large_releases: int
    loads: list[str]


def report(f: Figures) -> str:
    ok = [p for p in f.pushed if p.answer is not None]
    weights = [p.processes for p in ok]
    figures = ingest_figures(f.pushed)
    c50, c99 = figures["commit50"], figures["commit99"]
    b50, b99 = (float(np.quantile(f.baseline.file_seconds, q)) for q in (0.5, 0.99))
    alerts = sum(
        (p.answer or {}).get("live", {}).get("procurement", {}).get("alerts_written", 0) for p in ok
    )
    failed_files = len(f.pushed) - len(ok)
    idle99, ingest99 = f.idle.percentile_ms(0.99), f.during_ingest.percentile_ms(0.99)
    steady99, swap99 = f.swap.steady.percentile_ms(0.99), f.swap.window.percentile_ms(0.99)
    retrain99 = f.retrain.load.percentile_ms(0.99)
    large = f.large.answer or {}
    service_wall_rate = f.large_releases / f.large.wall_seconds
    cli_rate = f.large_releases / f.baseline.cli_large_seconds
    jobs = f.retrain.status.get("jobs", [])
    job = jobs[0] if jobs else {}
    lines = [
        f"Demo world at scale {f.scale}, cut at {CUT_DATE}: the installation holds what came "
        f"before (champion trained on it); {sum(weights):,} processes of {len(f.pushed)} "
        f"files of {RELEASES_PER_FILE} releases dated after the cut are pushed. One uvicorn "
        "worker; client threads on the same 2 cores; loopback.",
        "",
        f"**1. Ingest to alert** ({PUSH_RELEASES:,} new releases, one integration client "
        f"posting files of {RELEASES_PER_FILE} one after another, {CLIENTS} clients scoring):",
        "",
        "Ingestion is when a process's release is stored: the commit of the chunk that holds "
        "it (a file of 50 is one chunk). The goal is read on the time from that commit to "
        "its alert committed (the answer's `commit_to_alert_seconds`); the time from the live "
        "push's start (after the commit and the gathering of the processes' stored rows) and "
        "the client's wall time from the POST's start to the answer (upload, spool, read, "
        "store, push, score) stand beside it.",
        "",
        "| path | per process p50 | per process p99 |",
        "| --- | ---: | ---: |",
        f"| service: chunk committed to alerts committed (`commit_to_alert_seconds`) | "
        f"{ms(c50)} ms | {ms(c99)} ms |",
        f"| service: live push's start to alerts committed (`push_to_alert_seconds`) | "
        f"{ms(figures['push50'])} ms | {ms(figures['push99'])} ms |",
        f"| service: POST start to answer (wall) | {ms(figures['wall50'])} ms | "
        f"{ms(figures['wall99'])} ms |",
        f"| baseline, service stopped: `lodestar ingest --local` + `score --store-write` "
        f"({len(f.baseline.file_seconds)} files; file to alerts, wall) | {ms(b50)} ms | "
        f"{ms(b99)} ms |",
        "",
        f"Alerts written by the pushes: {alerts:,}; files failed: {failed_files}. Baseline "
        f"split: ingest {np.mean(f.baseline.ingest_seconds):.1f} s + score "
        f"{np.mean(f.baseline.score_seconds):.1f} s per file (mean; the scoring step scores "
        "every stored process). Where a file's time goes in the service (the answer's "
        f"`phase_seconds`, mean per file): {phase_means(ok)}.",
        "",
        f"| `POST /v1/procurement/risk`, {CLIENTS} clients | requests | failed | p50 ms | p99 ms |",
        "| --- | ---: | ---: | ---: | ---: |",
        row("idle (baseline)", f.idle),
        row("during the ingest", f.during_ingest),
        "",
        f"**2. Champion moved mid-run** at {SWAP_CLIENTS} clients (registry polled every "
        f"1 s): v{f.swap.old} → v{f.swap.new}; `/readyz` showed v{f.swap.new} "
        f"{f.swap.moved_to_loaded_s:.1f} s after the move; an answer after it carries "
        f"v{f.swap.answers_version}. Window: from the move to {SWAP_TAIL_SECONDS:.0f} s after "
        "`/readyz` showed the new version (open alerts are re-scored then).",
        "",
        f"| `POST /v1/procurement/risk`, {SWAP_CLIENTS} clients | requests | failed | p50 ms | "
        "p99 ms |",
        "| --- | ---: | ---: | ---: | ---: |",
        row("steady state (baseline)", f.swap.steady),
        row("swap window", f.swap.window),
        "",
        f"**3. Background retrain** (`POST /v1/admin/retrain`, procurement-risk, options "
        f"`{' '.join(RETRAIN_ARGUMENTS)}`: trained, registered, gated, not promoted): "
        f"{f.retrain.seconds:.0f} s, exit code {f.retrain.status.get('exit_code')}, "
        f"v{job.get('version')} {'promoted' if job.get('promoted') else 'not promoted'}.",
        "",
        f"| `POST /v1/procurement/risk`, {CLIENTS} clients | requests | failed | p50 ms | p99 ms |",
        "| --- | ---: | ---: | ---: | ---: |",
        row("idle (baseline)", f.idle),
        row("during the retrain", f.retrain.load),
        "",
        f"**4. Ingestion rate** of {f.large_releases:,} releases (one file, no other load):",
        "",
        "| path | seconds | releases/s |",
        "| --- | ---: | ---: |",
        f"| service: `POST /v1/ingest/ocds` (wall, client side) | {f.large.wall_seconds:.1f} | "
        f"{service_wall_rate:,.0f} |",
        f"| service: the run's own `seconds` (read, store, push, score) | "
        f"{large.get('seconds', math.nan):.1f} | "
        f"{f.large_releases / large.get('seconds', math.nan):,.0f} |",
        f"| baseline: `lodestar ingest --local` into a copy of the store (wall, with process "
        f"start) | {f.baseline.cli_large_seconds:.1f} | {cli_rate:,.0f} |",
        "",
        "| goal | figure | result |",
        "| --- | ---: | --- |",
        f"| ingestion to alert within {TARGET_PUSH_TO_ALERT_S:.0f} s (p99 per process) | "
        f"{ms(c99)} ms | {met(c99 <= TARGET_PUSH_TO_ALERT_S)} |",
        f"| no failed ingest file (all {len(f.pushed)} answered 200) | {failed_files} | "
        f"{met(failed_files == 0)} |",
        f"| no failed request during the swap | {f.swap.window.errors} | "
        f"{met(f.swap.window.errors == 0)} |",
        f"| swap-window p99 ≤ {TARGET_SWAP_RATIO:.0f}× steady | {swap99 / steady99:.2f}× | "
        f"{met(swap99 <= TARGET_SWAP_RATIO * steady99)} |",
        f"| answers carry the new version | v{f.swap.answers_version} | "
        f"{met(f.swap.answers_version == f.swap.new)} |",
        "",
        f"Ratios: risk p99 during ingest / idle {ingest99 / idle99:.2f}×; during retrain / "
        f"idle {retrain99 / idle99:.2f}×; service ingestion rate / CLI "
        f"{service_wall_rate / cli_rate:.2f}×. Load average (1 min) at each phase: "
        f"{', '.join(f.loads)}; the machine is shared.",
    ]
    firsts = [
        load.first_error
        for load in (f.idle, f.during_ingest, f.swap.steady, f.swap.window, f.retrain.load)
        if load.first_error
    ]
    errors = [p.error for p in f.pushed if p.error]
    if firsts or errors:
        lines += ["", f"First error: `{(firsts + errors)[0][:200]}`"]
    return "\n".join(lines)


def ingest_only_report(idle: Load, during: Load, pushed: Sequence[Pushed]) -> str:
    figures = ingest_figures(pushed)
    ok = [p for p in pushed if p.answer is not None]
    return "\n".join(
        [
            *(f"{name}: {ms(value)} ms" for name, value in figures.items()),
            f"phases (mean per file): {phase_means(ok)}",
            f"files failed: {len(pushed) - len(ok)}",
            describe("idle", idle),
            describe("during the ingest", during),
        ]
    )


def row(name: str, load: Load) -> str:
    return (
        f"| {name} | {load.requests:,} | {load.errors} | {load.percentile_ms(0.5):.1f} | "
        f"{load.percentile_ms(0.99):.1f} |"
    )


# --------------------------------------------------------------------------------------------
# Main


def service_environment(data_dir: Path) -> dict[str, str]:
    """The service's: registry polled every second, nothing scheduled, a small retrain."""
    return procurement_environment(data_dir) | {
        "LODESTAR_REGISTRY_POLL_SECONDS": "1",
        "LODESTAR_SNAPSHOT_INTERVAL_HOURS": "0",
        "LODESTAR_RETRAIN_INTERVAL_HOURS": "0",
        "LODESTAR_RETRAIN_AFTER_VERDICTS": "0",
        "LODESTAR_RETRAIN_JOB_ARGUMENTS": json.dumps({MODEL: RETRAIN_ARGUMENTS}),
    }


def tokens(data_dir: Path) -> tuple[str, str]:
    """(integration token, admin token) of the installation's keys."""
    from core.settings import Settings
    from serving.platform.auth import issue_token

    keyring = Settings(data_dir=data_dir, key_file=data_dir / "keys.json").keyring()
    hour = timedelta(hours=1)
    return (
        issue_token(keyring, "bench.platform", "integration", hour),
        issue_token(keyring, "bench.admin", "admin", hour),
    )


def load_average() -> str:
    import os

    return f"{os.getloadavg()[0]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.5, help="demo world size (1 = default)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/lodestar-bench-live"))
    parser.add_argument("--seconds", type=float, default=15.0, help="idle and steady phases")
    parser.add_argument(
        "--ingest-only",
        action="store_true",
        help="part 1 against the service only (no baseline, parts 2-4); printed, not recorded",
    )
    args = parser.parse_args()
    work: Path = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    prepared = prepare(work, args.scale)
    data_dir = prepared.data_dir
    bodies, _, auditor, _ = payloads(data_dir)
    requests: list[Request] = [("POST", "/v1/procurement/risk", body) for body in bodies]
    headers = {"Authorization": f"Bearer {auditor}", "Content-Type": "application/json"}
    integration, admin = tokens(data_dir)
    uri = f"sqlite:///{data_dir.resolve() / 'mlflow.db'}"
    loads = [f"batch baseline {load_average()}"]
    if not args.ingest_only:
        baseline = batch_baseline(installation_copy(data_dir, work / "batch-copy"), prepared)
    env = service_environment(data_dir)
    with our_server(env, work / "service.log", [MODEL], startup_seconds=STARTUP_SECONDS) as port:
        log(f"service up on :{port}")
        drive(port, requests, headers, clients=4, total=WARMUP_REQUESTS, seconds=30)
        loads.append(f"idle {load_average()}")
        idle = merge(
            [
                s.load
                for s in load_slices(port, requests, headers, clients=CLIENTS, seconds=args.seconds)
            ]
        )
        log(describe("idle", idle))
        loads.append(f"ingest {load_average()}")
        pushed, during = ingest_under_load(
            port, requests, headers, integration, prepared.push_files
        )
        log(describe("during ingest", during))
        if args.ingest_only:
            print(ingest_only_report(idle, during, pushed))
            return
        loads.append(f"swap {load_average()}")
        swap = swap_under_load(port, requests, headers, uri, args.seconds)
        log(describe("steady", swap.steady))
        log(describe("swap window", swap.window))
        loads.append(f"retrain {load_average()}")
        retrain = retrain_under_load(port, requests, headers, admin)
        log(describe("during retrain", retrain.load))
        loads.append(f"rate {load_average()}")
        (large,) = post_files(port, integration, [prepared.large_file])
        log(f"service ingest of {prepared.large_releases:,} releases: {large.wall_seconds:.1f} s")
    body = report(
        Figures(
            scale=args.scale,
            idle=idle,
            during_ingest=during,
            pushed=pushed,
            baseline=baseline,
            swap=swap,
            retrain=retrain,
            large=large,
            large_releases=prepared.large_releases,
            loads=loads,
        )
    )
    print(body)
    write_section("Living service (bench/live.py)", body)


if __name__ == "__main__":
    from core.settings import owner_only_files

    with owner_only_files():
        main()
