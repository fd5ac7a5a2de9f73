"""Retraining while the service runs: by hand (``POST /v1/admin/retrain``), on a schedule
(``ServiceSettings.retrain_interval_hours``) and once enough reviewer verdicts have arrived
(``retrain_after_verdicts``).

A retrain writes a fresh store snapshot (``serving.live.snapshots``: the training jobs never open
the live store) and runs each chosen model's own training job on it, one after the other, as
``nice -n 10 python -m training.<job> train --snapshot <folder>``: a separate process at low
priority, so the requests keep the cores they need. Each job registers its model and runs its
own champion gate; a promoted challenger moves the ``champion`` alias, which the champion
watcher (``serving.live.swap``) then swaps in. One retrain runs at a time; stopping the service
ends a job under way (its model is not registered).

The status (``RetrainStatus``) keeps the last run: what started it, when, each job's exit
code and gate verdict (from the job's last line), and the last lines of the jobs' output.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from serving.live.snapshots import SnapshotBusyError, SnapshotWriter
from serving.platform.periodic import Periodic
from serving.platform.shared_store import SharedStore
from serving.runtime import Runtime
from serving.settings import ServiceSettings
from store.queries import live as live_queries
from store.snapshot import SnapshotError

logger = logging.getLogger(__name__)

JOBS = {
    "procurement-risk": "training.procurement_risk",
    "supplier-esg": "training.supplier_esg",
    "mastery": "training.mastery",
    "study-recommender": "training.recommender",
}
"""Registered model → the module whose ``train`` command trains, registers and gates it."""

OUTPUT_LINES_KEPT = 40
NICENESS = 10
SNAPSHOT_WAIT_SECONDS = 120.0
STOP_GRACE_SECONDS = 10.0

# run_training's last line: "run <id>: <model> v<version> <reason>; <verdict> (<seconds> s)"
_RESULT_LINE = re.compile(
    r"^run (?P<run>\S+): (?P<model>\S+) v(?P<version>\S+) (?P<reason>.*); "
    r"(?P<verdict>promoted to champion|stays challenger) \("
)


class RetrainOffError(RuntimeError):
    """This deployment does not retrain (``retrain_enabled`` off)."""


class RetrainBusyError(RuntimeError):
    """A retrain is running."""


class RetrainUnavailableError(RuntimeError):
    """No store is open, so no snapshot can be written."""


@dataclass(frozen=True)
class JobResult:
    """One model's training job: its exit code and, when its last line says so, the version
    it registered and the gate's verdict."""

    model: str
    exit_code: int
    version: str | None = None
    promoted: bool | None = None
    gate_reason: str | None = None


@dataclass(frozen=True)
class RetrainStatus:
    """The last retrain (``running`` while it runs); ``exit_code`` 0 when every job ended
    with 0, else the first other code (-1: the retrain failed before or between jobs, see
    ``error``)."""

    running: bool = False
    runs: int = 0
    trigger: str | None = None
    models: tuple[str, ...] = ()
    started_at: datetime | None = None
    finished_at: datetime | None = None
    snapshot: str | None = None
    exit_code: int | None = None
    jobs: tuple[JobResult, ...] = ()
    error: str | None = None
    output_tail: tuple[str, ...] = field(default=(), repr=False)


def job_result(model: str, exit_code: int, lines: Sequence[str]) -> JobResult:
    """What a job's output says of its registered version and gate verdict."""
    for line in reversed(lines):
        found = _RESULT_LINE.match(line.strip())
        if found:
            return JobResult(
                model=model,
                exit_code=exit_code,
                version=found["version"],
                promoted=found["verdict"].startswith("promoted"),
                gate_reason=found["reason"],
            )
    return JobResult(model=model, exit_code=exit_code)


def training_environment(settings: ServiceSettings) -> dict[str, str]:
    """The service's environment plus the settings the jobs read that the service may have
    been given in code (the feature-defining ones: the job saves them with the model)."""
    env = dict(os.environ)
    env["LODESTAR_ENVIRONMENT"] = settings.environment
    env["LODESTAR_APPROVAL_THRESHOLDS_CNY"] = str(list(settings.approval_thresholds_cny))
    env["LODESTAR_LEGAL_TENDER_THRESHOLD_CNY"] = str(settings.legal_tender_threshold_cny)
    env["LODESTAR_MINIMUM_TENDER_DAYS"] = str(settings.minimum_tender_days)
    for name, value in (("WORLD_DIR", settings.world_dir), ("TRUTH_DIR", settings.truth_dir)):
        if value is not None:
            env[f"LODESTAR_{name}"] = str(value)
    return env


def job_command(
    model: str, snapshot: Path, settings: ServiceSettings, python: str = sys.executable
) -> list[str]:
    """``nice -n 10 python -m training.<job> train --snapshot ...`` for ``model``."""
    nice = shutil.which("nice")
    prefix = [nice, "-n", str(NICENESS)] if nice else []
    return [
        *prefix,
        python,
        "-m",
        JOBS[model],
        "train",
        "--snapshot",
        str(snapshot),
        "--data-dir",
        str(settings.data_dir),
        "--key-file",
        str(settings.key_file),
        "--tracking-uri",
        settings.resolved_mlflow_tracking_uri,
        "--quiet",
        *settings.retrain_job_arguments.get(model, []),
    ]


class Retrainer:
    """Runs one retrain at a time in a background thread (``start``); ``status`` reads it."""

    def __init__(self, snapshots: SnapshotWriter | None, settings: ServiceSettings) -> None:
        self._snapshots = snapshots
        self._settings = settings
        self._lock = threading.Lock()
        self._status = RetrainStatus()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen[str] | None = None
        self._tail: deque[str] = deque(maxlen=OUTPUT_LINES_KEPT)

    @classmethod
    def for_app(cls, snapshots: SnapshotWriter | None, settings: ServiceSettings) -> Retrainer:
        return cls(snapshots, settings)

    def status(self) -> RetrainStatus:
        with self._lock:
            return replace(self._status, output_tail=tuple(self._tail))

    def start(self, models: Sequence[str], trigger: str) -> RetrainStatus:
        """Start retraining ``models`` (registered names, in ``JOBS``) in the background;
        ``RetrainBusyError`` while one runs, ``RetrainUnavailableError`` without a store."""
        unknown = [model for model in models if model not in JOBS]
        if unknown or not models:
            raise ValueError(f"unknown models {unknown}; known: {list(JOBS)}")
        if not self._settings.retrain_enabled:
            raise RetrainOffError("retraining is turned off (LODESTAR_RETRAIN_ENABLED)")
        if self._snapshots is None:
            raise RetrainUnavailableError("no store is open: nothing to snapshot")
        with self._lock:
            if self._status.running:
                raise RetrainBusyError("a retrain is running; try again when it is done")
            self._tail.clear()
            self._status = RetrainStatus(
                running=True,
                runs=self._status.runs + 1,
                trigger=trigger,
                models=tuple(dict.fromkeys(models)),
                started_at=datetime.now(UTC),
            )
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, args=(self._status.models,), name="retrain", daemon=True
            )
            self._thread.start()
            logger.info("retrain %d started (%s): %s", self._status.runs, trigger, models)
            return replace(self._status)

    def wait(self, timeout_s: float | None = None) -> RetrainStatus:
        """The status once the running retrain has finished (or ``timeout_s`` passed)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
        return self.status()

    def stop(self, timeout_s: float | None = STOP_GRACE_SECONDS) -> None:
        """End a job under way (terminate, then kill after ``timeout_s``) and wait for the
        retrain's thread."""
        self._stop.set()
        with self._lock:
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self, models: tuple[str, ...]) -> None:
        jobs: list[JobResult] = []
        error: str | None = None
        try:
            snapshot = self._write_snapshot()
            with self._lock:
                self._status = replace(self._status, snapshot=snapshot.name)
            for model in models:
                if self._stop.is_set():
                    error = "stopped: the service is shutting down"
                    break
                jobs.append(self._run_job(model, snapshot))
                with self._lock:
                    self._status = replace(self._status, jobs=tuple(jobs))
        except (SnapshotError, SnapshotBusyError, duckdb.Error, OSError) as failure:
            logger.exception("retrain failed")
            error = f"{type(failure).__name__}: {failure}"
        except Exception as failure:
            logger.exception("retrain failed")
            error = f"{type(failure).__name__} (see the service log)"
        codes = [job.exit_code for job in jobs if job.exit_code != 0]
        exit_code = -1 if error is not None else (codes[0] if codes else 0)
        with self._lock:
            self._process = None
            self._status = replace(
                self._status,
                running=False,
                finished_at=datetime.now(UTC),
                jobs=tuple(jobs),
                exit_code=exit_code,
                error=error,
            )
            logger.info("retrain %d finished: %s", self._status.runs, self._status)

    def _write_snapshot(self) -> Path:
        """A fresh snapshot's folder; waits for one being written by someone else."""
        assert self._snapshots is not None
        deadline = time.monotonic() + SNAPSHOT_WAIT_SECONDS
        while True:
            try:
                return self._snapshots.write().path
            except SnapshotBusyError:
                if time.monotonic() > deadline or self._stop.wait(1.0):
                    raise

    def _run_job(self, model: str, snapshot: Path) -> JobResult:
        command = job_command(model, snapshot, self._settings)
        lines: list[str] = []
        with self._lock:
            self._tail.append(f"$ python -m {JOBS[model]} train --snapshot {snapshot.name}")
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=training_environment(self._settings),
        )
        with self._lock:
            self._process = process
        assert process.stdout is not None
        for line in process.stdout:
            text = line.rstrip("\n")
            lines.append(text)
            with self._lock:
                self._tail.append(f"[{model}] {text}")
        exit_code = process.wait()
        with self._lock:
            self._process = None
        result = job_result(model, exit_code, lines[-OUTPUT_LINES_KEPT:])
        logger.info("retrain job %s ended: %s", model, result)
        return result


# --------------------------------------------------------------------------------------------
# The schedule


def count_verdicts(store: SharedStore) -> int:
    """Reviewer verdicts recorded so far (rows of ``reviews``)."""
    with store.use() as opened:
        return live_queries.verdict_count(opened.connection)


class RetrainScheduler:
    """A daemon thread that, every ``check_seconds``, starts a retrain of every model when
    ``interval_hours`` have passed since the last retrain started (0: never) or when
    ``after_verdicts`` verdicts have arrived since (0: never). A retrain started by hand
    counts as the last one. A busy retrainer is left alone (checked again later)."""

    def __init__(
        self,
        retrainer: Retrainer,
        *,
        interval_hours: float,
        after_verdicts: int,
        check_seconds: float,
        verdicts: Callable[[], int] | None,
    ) -> None:
        self._retrainer = retrainer
        self.interval_s = interval_hours * 3600.0
        self.after_verdicts = after_verdicts
        self.check_seconds = check_seconds
        self._verdicts = verdicts
        self._periodic = Periodic("retrain-schedule", check_seconds, self.check)
        self._seen_runs = retrainer.status().runs
        self._since = time.monotonic()
        self._baseline = 0

    @classmethod
    def for_runtime(
        cls, retrainer: Retrainer, runtime: Runtime, settings: ServiceSettings
    ) -> RetrainScheduler:
        store = runtime.store
        return cls(
            retrainer,
            interval_hours=settings.retrain_interval_hours,
            after_verdicts=settings.retrain_after_verdicts,
            check_seconds=settings.retrain_check_seconds,
            verdicts=None
            if store is None or not settings.retrain_enabled
            else (lambda: count_verdicts(store)),
        )

    @property
    def running(self) -> bool:
        return self._periodic.running

    def start(self) -> None:
        if self._verdicts is None or (self.interval_s <= 0 and self.after_verdicts <= 0):
            return
        self._baseline = self._verdicts()
        self._since = time.monotonic()
        self._periodic.start()

    def stop(self, timeout_s: float | None = None) -> None:
        self._periodic.stop(timeout_s)

    def check(self) -> str | None:
        """Start a retrain if one is due; the trigger (``schedule`` or ``verdicts``) or None."""
        assert self._verdicts is not None
        verdicts = self._verdicts()
        runs = self._retrainer.status().runs
        if runs != self._seen_runs:  # a retrain started (by hand or here): count from now
            self._seen_runs, self._since, self._baseline = runs, time.monotonic(), verdicts
        trigger = None
        if self.interval_s > 0 and time.monotonic() - self._since >= self.interval_s:
            trigger = "schedule"
        elif self.after_verdicts > 0 and verdicts - self._baseline >= self.after_verdicts:
            trigger = "verdicts"
        if trigger is None:
            return None
        try:
            started = self._retrainer.start(list(JOBS), trigger)
        except (RetrainBusyError, RetrainUnavailableError):
            return None
        self._seen_runs, self._since, self._baseline = started.runs, time.monotonic(), verdicts
        return trigger
