"""The stages of ``make models`` as a dependency graph, run as processes on a few slots.

After ``snapshot`` the trainings form two independent chains: procurement (``risk-train`` ->
``risk-score`` into alerts; ``esg-train``) and study (``mastery-train``,
``recommender-train``, which fits its own mastery model and so does not wait for
``mastery-train``). ``MODEL_GRAPH`` holds only the real dependencies; with fewer slots than
ready stages, the graph's order decides which starts first (the longest chains first, so the
two slots end together). ``lodestar models`` and ``bench/scale.py`` run this same graph.

What two stages running at once share, and why it holds:

- the MLflow SQLite store: MLflow sets a busy timeout on every session, so concurrent logging
  and registration wait for each other; but two processes creating a fresh store's tables at
  once both fail in its migrations, so ``prepare_tracking_store`` creates them first;
- the DuckDB store: only ``risk-score --store-write`` opens it (for writing), every training
  reads the snapshot (``training.data_source``), so nothing else needs its lock;
- temporary folders: each stage gets its own ``TMPDIR`` under the log folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

MODEL_GRAPH: dict[str, tuple[str, ...]] = {
    "generate": (),
    "ingest": ("generate",),
    "snapshot": ("ingest",),
    "collusion-train": ("snapshot",),
    "risk-train": ("snapshot", "collusion-train"),
    "recommender-train": ("snapshot",),
    "risk-score": ("risk-train",),
    "mastery-train": ("snapshot",),
    "esg-train": ("snapshot",),
}
"""Stage -> the stages it waits for, in the order ready stages start (``generate`` and
``ingest`` are ``lodestar demo``'s, run before it by ``bench/scale.py``). ``risk-train`` waits
for ``collusion-train`` when that runs (its champion is the risk model's collusion screen);
``risk-score`` scores with the champion ``risk-train`` registered. A stage that is not run
(``collusion-train`` without the proven-cartel files) passes its own dependencies on."""

POLL_SECONDS = 0.2
LOG_TAIL_LINES = 40


@dataclass(frozen=True)
class Stage:
    name: str
    command: tuple[str, ...]
    after: tuple[str, ...] = ()


@dataclass
class StageOutcome:
    """One stage's run. ``cpu_seconds`` is user + system of the stage's process and the
    descendants it waited for (``wait4``), so stages running side by side are told apart;
    ``started``/``ended`` are seconds since the graph started."""

    name: str
    status: str  # "ok", "failed (rc N)", "stopped: <why>", "not run (after <stage> failed)"
    log: Path
    started: float = float("nan")
    ended: float = float("nan")
    cpu_seconds: float = float("nan")

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    @property
    def ok(self) -> bool:
        return self.status == "ok"


Watch = Callable[[str, psutil.Process], str | None]
"""Called each poll for each running stage with its process; a non-empty return stops the
stage (its whole tree) with that reason."""


def graph_stages(commands: Mapping[str, Sequence[str]]) -> list[Stage]:
    """The stages of ``MODEL_GRAPH`` (then any other named ones, in the given order) that have
    a command, each waiting for the run stages it depends on, through those not run."""
    names = [n for n in MODEL_GRAPH if n in commands] + [
        n for n in commands if n not in MODEL_GRAPH
    ]
    return [Stage(n, tuple(commands[n]), _waits(n, set(commands))) for n in names]


def _waits(name: str, run: set[str]) -> tuple[str, ...]:
    """The stages of ``run`` that ``name`` depends on, looking through stages not run."""
    found: list[str] = []
    for dependency in MODEL_GRAPH.get(name, ()):
        for stage in (dependency,) if dependency in run else _waits(dependency, run):
            if stage not in found:
                found.append(stage)
    return tuple(found)


def chain_stages(commands: Mapping[str, Sequence[str]]) -> list[Stage]:
    """The same stages, each waiting for the one before it (the sequential pipeline)."""
    stages = graph_stages(commands)
    return [
        Stage(stage.name, stage.command, (stages[i - 1].name,) if i else ())
        for i, stage in enumerate(stages)
    ]


@dataclass
class _Running:
    stage: Stage
    process: subprocess.Popen[bytes]
    watched: psutil.Process
    outcome: StageOutcome


@dataclass
class GraphRun:
    """Runs ``stages`` (a DAG in start-priority order) on ``jobs`` slots; each stage's output
    goes to ``<log_dir>/<name>.log``. After the first failure no stage starts; those running
    end on their own."""

    stages: Sequence[Stage]
    log_dir: Path
    jobs: int = 2
    cwd: Path | None = None
    env: Mapping[str, str] | None = None
    watch: Watch | None = None
    on_start: Callable[[Stage, float], None] = lambda stage, at: None
    on_end: Callable[[StageOutcome], None] = lambda outcome: None
    on_tick: Callable[[list[str], float], None] = lambda running, at: None
    outcomes: dict[str, StageOutcome] = field(default_factory=dict)

    def run(self) -> list[StageOutcome]:
        _check_graph(self.stages)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        began = time.perf_counter()
        running: list[_Running] = []
        pending = list(self.stages)
        failed: str | None = None
        while pending or running:
            now = time.perf_counter() - began
            if failed is None:
                for stage in self._ready(pending, len(running)):
                    pending.remove(stage)
                    running.append(self._start(stage, now))
                    self.on_start(stage, now)
            for item in list(running):
                if self._finished(item, began):
                    running.remove(item)
                    self.outcomes[item.stage.name] = item.outcome
                    if not item.outcome.ok and failed is None:
                        failed = item.stage.name
                    self.on_end(item.outcome)
            if failed is not None and not running:
                for stage in pending:
                    self.outcomes[stage.name] = StageOutcome(
                        stage.name, f"not run (after {failed} failed)", self._log(stage)
                    )
                pending = []
            if running:
                self.on_tick([item.stage.name for item in running], now)
                time.sleep(POLL_SECONDS)
            elif pending and failed is None and not self._ready(pending, 0):
                raise RuntimeError("no stage can start: the graph waits on itself")
        return [self.outcomes[stage.name] for stage in self.stages]

    def _ready(self, pending: list[Stage], busy: int) -> list[Stage]:
        done = {name for name, outcome in self.outcomes.items() if outcome.ok}
        ready = [stage for stage in pending if set(stage.after) <= done]
        return ready[: max(0, self.jobs - busy)]

    def _log(self, stage: Stage) -> Path:
        return self.log_dir / f"{stage.name}.log"

    def _start(self, stage: Stage, now: float) -> _Running:
        log = self._log(stage)
        temporary = self.log_dir / "tmp" / stage.name
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir(parents=True)
        env = {**(self.env if self.env is not None else os.environ), "TMPDIR": str(temporary)}
        with log.open("wb") as output:
            process = subprocess.Popen(
                list(stage.command), cwd=self.cwd, env=env, stdout=output, stderr=subprocess.STDOUT
            )
        outcome = StageOutcome(stage.name, "running", log, started=now)
        return _Running(stage, process, psutil.Process(process.pid), outcome)

    def _finished(self, item: _Running, began: float) -> bool:
        """Reap ``item`` if it ended (its CPU from ``wait4``); stop it if ``watch`` says so."""
        pid, status, usage = os.wait4(item.process.pid, os.WNOHANG)
        if pid == 0:
            reason = self.watch(item.stage.name, item.watched) if self.watch else None
            if not reason:
                return False
            _stop_tree(item.watched)
            pid, status, usage = os.wait4(item.process.pid, 0)
            item.outcome.status = f"stopped: {reason}"
        code = os.waitstatus_to_exitcode(status)
        item.process.returncode = code  # reaped here: Popen must not wait for it again
        item.outcome.ended = time.perf_counter() - began
        item.outcome.cpu_seconds = usage.ru_utime + usage.ru_stime
        if item.outcome.status == "running":
            item.outcome.status = "ok" if code == 0 else f"failed (rc {code})"
        shutil.rmtree(self.log_dir / "tmp" / item.stage.name, ignore_errors=True)
        return True


def _check_graph(stages: Sequence[Stage]) -> None:
    names = [stage.name for stage in stages]
    if len(set(names)) != len(names):
        raise ValueError(f"stage names repeat: {names}")
    for stage in stages:
        unknown = set(stage.after) - set(names)
        if unknown:
            raise ValueError(f"stage {stage.name} waits for stages not in the graph: {unknown}")


def _stop_tree(process: psutil.Process) -> None:
    try:
        family = [*process.children(recursive=True), process]
    except psutil.Error:
        family = [process]
    for member in family:
        try:
            member.kill()
        except psutil.Error:
            continue


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a stage's log (progress bars' carriage returns folded)."""
    if not path.exists():
        return ""
    text = path.read_bytes().decode("utf-8", errors="replace")
    kept = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]
    return "\n".join(kept[-lines:])


def prepare_tracking_store(tracking_uri: str) -> None:
    """Create a SQLite MLflow store's tables before stages share it (two processes creating
    them at once both fail in MLflow's migrations); a no-op for a store that exists and for a
    tracking server."""
    if not tracking_uri.startswith("sqlite:"):
        return
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    client.search_experiments(max_results=1)
    client.search_registered_models(max_results=1)
