"""The whole pipeline at several world sizes: each stage's wall time, CPU, peak memory and
cost per record, one process per stage as a user runs them, and the pipeline's wall time.

    python bench/scale.py                      # 1x, 3x and 10x: the stage graph on two slots
    python bench/scale.py --scales 1 3 10 30   # and 30x (only when asked)
    python bench/scale.py --sequential         # every stage after the one before it
    python bench/scale.py --cluster            # the stages with a cluster path on two workers
    python bench/scale.py --scales 1 --stages generate ingest   # a quick look

Stages (the commands of ``make demo`` and ``make models``, each its own process):
``generate`` (``lodestar generate``), ``ingest`` (``lodestar ingest --local``), ``snapshot``,
``risk-train``, ``risk-score`` (into alerts), ``esg-train``, ``mastery-train``,
``recommender-train``. They run as ``lodestar.pipeline.MODEL_GRAPH``, the graph ``lodestar
models`` runs: after ``snapshot`` the procurement and study trainings on two slots at once
(``--sequential``: one after another, in the graph's order). Each stage's CPU is its own
process tree's (``wait4``), so stages running side by side are told apart; the pipeline's wall
runs from the first stage's start to the last one's end (the issue's 10-minute goal), beside
the sum of the stages' walls (what one slot would take). With ``--cluster`` a scheduler and two
one-thread workers run as their own processes for the whole invocation, and the stages of
``CLUSTER_STAGES`` (those whose command takes ``--scheduler``) get its address; every other
stage runs single-process as without ``--cluster``, and the report says which ran where.
Memory is read from each running stage's process tree every ``lodestar.pipeline.POLL_SECONDS``:
``max process`` is the largest single process (the issue's bound: 4 GiB), ``tree`` the sum over
the tree at its peak; on the cluster, ``max worker`` is the largest worker process during the
stage (workers live across stages, so it includes what they held before it). When the running
stages' trees (and the workers) together pass ``--memory-limit-gib`` the stage being read is
stopped and reported as such, so a run never takes the machine down. Each scale starts from an
empty installation, so any stage after ``ingest`` brings ``generate`` and ``ingest`` along, and
any training ``snapshot`` (``with_prerequisites``). Cost per record divides the wall time by
the records the stage reads (the world's manifest counts: all records for generate and ingest,
releases for procurement, suppliers and their events for ESG, statements for the study
models). The 1x run in the same invocation is the baseline of the larger ones; the issue's
figures before this work are quoted beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results import write_section
from core.settings import Settings
from lodestar.pipeline import (
    GraphRun,
    Stage,
    StageOutcome,
    chain_stages,
    graph_stages,
    prepare_tracking_store,
)
from training.tracking import resolve_tracking_uri

GIB = 2**30
REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

STAGES = (
    "generate",
    "ingest",
    "snapshot",
    "risk-train",
    "risk-score",
    "esg-train",
    "mastery-train",
    "recommender-train",
)
CLUSTER_STAGES = frozenset(
    {"risk-train", "risk-score", "esg-train", "mastery-train", "recommender-train"}
)
"""The stages whose command takes ``--scheduler`` (``training.distributed``,
``training.distributed_learning``); the others run single-process under ``--cluster`` too."""

# The issue's measurements before this work (wall seconds, peak GB) at 1x and 10x.
ISSUE_BASELINE = {
    "generate": ("7 s, 0.5 GB", "150 s"),
    "ingest": ("19 s, 0.8 GB", "crash (346 s worked around, 10.5 GB)"),
    "risk-train": ("26 s, 0.6 GB", "183 s, 2.2 GB"),
    "risk-score": ("23 s, 0.6 GB", "175 s, 2.2 GB"),
    "esg-train": ("26 s, 0.5 GB", "26 s, 0.9 GB"),
    "mastery-train": ("49 s, 0.8 GB", "467 s, 9.2 GB"),
    "recommender-train": ("155 s, 1.6 GB", "1,912 s, 21.8 GB"),
}


def with_prerequisites(stages: Sequence[str]) -> list[str]:
    """``stages`` in pipeline order, with ``generate`` and ``ingest`` added when a later stage
    is asked for (it reads the world they write), and ``snapshot`` when a training is (the
    trainings read it; two writing their own at once would race)."""
    wanted = set(stages)
    if wanted - {"generate", "ingest"}:
        wanted |= {"generate", "ingest"}
    if wanted - {"generate", "ingest", "snapshot"}:
        wanted.add("snapshot")
    return [stage for stage in STAGES if stage in wanted]


@dataclass
class StageResult:
    scale: float
    stage: str
    seconds: float
    max_process_gib: float
    tree_gib: float
    records: int
    status: str  # "ok", "failed (rc N)", "stopped at the memory limit"
    runs_on: str = "single process"  # or "cluster (2 workers)"
    max_worker_gib: float = float("nan")  # the largest worker process; NaN: no cluster used
    cpu_seconds: float = float("nan")  # user + system CPU of the stage's own processes
    started: float = 0.0  # seconds after the scale's first stage started

    @property
    def cpu_microseconds_per_record(self) -> float:
        return self.cpu_seconds / self.records * 1e6 if self.records else float("nan")

    @property
    def microseconds_per_record(self) -> float:
        return self.seconds / self.records * 1e6 if self.records else float("nan")


def stage_command(stage: str, data_dir: Path, scale: float, scheduler: str | None) -> list[str]:
    """The command line of one stage on the installation at ``data_dir``."""
    common = ["--data-dir", str(data_dir), "--key-file", str(data_dir / "keys.json"), "--quiet"]
    lodestar = str(BIN / "lodestar")
    python = [sys.executable, "-m"]
    cluster = ["--scheduler", scheduler] if scheduler and stage in CLUSTER_STAGES else []
    commands = {
        "generate": [lodestar, "generate", "--scale", str(scale), *common],
        "ingest": [lodestar, "ingest", "--local", *common],
        "snapshot": [lodestar, "snapshot", *common],
        "risk-train": [
            *python,
            "training.procurement_risk",
            "train",
            *common,
            "--min-improvement",
            "0.01",
            *cluster,
        ],
        "risk-score": [
            *python,
            "training.procurement_risk",
            "score",
            "--store-write",
            *common,
            *cluster,
        ],
        "esg-train": [
            *python,
            "training.supplier_esg",
            "train",
            *common,
            "--min-improvement",
            "0.01",
            *cluster,
        ],
        "mastery-train": [
            *python,
            "training.mastery",
            "train",
            *common,
            "--min-improvement",
            "0.005",
            *cluster,
        ],
        "recommender-train": [
            *python,
            "training.recommender",
            "train",
            *common,
            "--min-improvement",
            "0.01",
            *cluster,
        ],
    }
    return commands[stage]


def stage_records(stage: str, counts: dict[str, int]) -> int:
    """The records a stage reads, from the world's manifest counts."""
    everything = sum(
        counts.get(k, 0)
        for k in (
            "processes",
            "audit_outcomes",
            "suppliers",
            "supplier_certifications",
            "supplier_events",
            "content_items",
            "knowledge_points",
            "learning_members",
            "xapi_statements",
        )
    )
    by_stage = {
        "generate": everything,
        "ingest": everything,
        "snapshot": everything,
        "risk-train": counts.get("processes", 0),
        "risk-score": counts.get("processes", 0),
        "esg-train": counts.get("suppliers", 0) + counts.get("supplier_events", 0),
        "mastery-train": counts.get("xapi_statements", 0),
        "recommender-train": counts.get("xapi_statements", 0),
    }
    return by_stage[stage]


def tree_memory(process: psutil.Process) -> tuple[int, int]:
    """(largest single RSS, summed RSS) over ``process`` and its descendants, in bytes."""
    sizes = []
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        members = [process]
    for member in members:
        try:
            sizes.append(member.memory_info().rss)
        except psutil.Error:
            continue
    return (max(sizes, default=0), sum(sizes))


@dataclass
class StageWatch:
    """Memory of the running stages (and the cluster's workers), read at each poll of the
    graph: per stage the largest process and the tree's peak; a stage is stopped when all
    running stages' trees and the workers together pass ``limit_bytes``, or when it has run
    ``timeout`` seconds."""

    limit_bytes: int
    timeout: float
    workers: Sequence[psutil.Process] = ()
    cluster_stages: frozenset[str] = frozenset()
    started: dict[str, float] = field(default_factory=dict)
    trees: dict[str, int] = field(default_factory=dict)  # bytes now, running stages only
    max_process: dict[str, int] = field(default_factory=dict)
    tree_peak: dict[str, int] = field(default_factory=dict)
    worker_peak: dict[str, int] = field(default_factory=dict)

    def start(self, stage: Stage, at: float) -> None:
        self.started[stage.name] = time.perf_counter()
        for peaks in (self.max_process, self.tree_peak, self.worker_peak):
            peaks[stage.name] = 0

    def end(self, outcome: StageOutcome) -> None:
        self.trees.pop(outcome.name, None)

    def __call__(self, name: str, process: psutil.Process) -> str | None:
        single, total = tree_memory(process)
        self.trees[name] = total
        self.max_process[name] = max(self.max_process[name], single)
        self.tree_peak[name] = max(self.tree_peak[name], total)
        on_workers = [tree_memory(worker) for worker in self.workers]
        if name in self.cluster_stages:
            self.worker_peak[name] = max([self.worker_peak[name], *(m for m, _ in on_workers)])
        everything = sum(self.trees.values()) + sum(t for _, t in on_workers)
        if everything > self.limit_bytes:
            return f"at the memory limit ({everything / GIB:.1f} GiB)"
        if time.perf_counter() - self.started[name] > self.timeout:
            return f"after {self.timeout:.0f} s"
        return None


class LocalDaskCluster:
    """A scheduler and two one-thread workers on 127.0.0.1, as separate processes started the
    way an operator starts them (``dask scheduler``, ``dask worker``); the scheduler takes a
    free port and writes its address to a scheduler file, so parallel runs do not collide."""

    WORKERS = 2

    def __init__(self, root: Path) -> None:
        self.root = root
        self.scheduler_file = root / "dask-scheduler.json"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.address = ""

    def __enter__(self) -> LocalDaskCluster:
        dask = str(BIN / "dask")
        self.scheduler_file.unlink(missing_ok=True)
        log = (self.root / "dask.log").open("w")
        where = ["--scheduler-file", str(self.scheduler_file), "--no-dashboard"]
        self.processes.append(
            subprocess.Popen(
                [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", *where],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        for number in range(self.WORKERS):
            self.processes.append(
                subprocess.Popen(
                    [
                        *(dask, "worker", "--nthreads", "1", "--nworkers", "1"),
                        *("--name", f"bench-{number}"),
                        *("--local-directory", str(self.root / "dask")),
                        *where,
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        self._wait_for_workers()
        return self

    def _wait_for_workers(self, timeout: float = 120.0) -> None:
        from distributed import Client

        deadline = time.perf_counter() + timeout
        while not self.scheduler_file.exists():
            if time.perf_counter() > deadline:
                raise RuntimeError(f"no scheduler file after {timeout:.0f} s (see dask.log)")
            time.sleep(0.5)
        self.address = json.loads(self.scheduler_file.read_text())["address"]
        with Client(self.address, timeout=timeout) as client:
            client.wait_for_workers(self.WORKERS, timeout=timeout)

    @property
    def workers(self) -> list[psutil.Process]:
        """The worker commands' processes (each with its worker below it)."""
        return [psutil.Process(process.pid) for process in self.processes[1:]]

    def __exit__(self, *_: object) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def run_scale(
    scale: float,
    stages: Sequence[str],
    root: Path,
    args: argparse.Namespace,
    cluster: LocalDaskCluster | None,
) -> list[StageResult]:
    """One installation at ``scale``: the stages as ``lodestar.pipeline``'s graph on two slots
    (``args.sequential``: one after another), each its own process."""
    data_dir = root / f"scale-{scale:g}"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    subprocess.run(
        [
            str(BIN / "lodestar"),
            "keys",
            "init",
            "--key-file",
            str(data_dir / "keys.json"),
            "--data-dir",
            str(data_dir),
        ],
        check=True,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
    )
    prepare_tracking_store(resolve_tracking_uri(Settings(data_dir=data_dir)))
    commands = {
        stage: stage_command(stage, data_dir, scale, cluster.address if cluster else None)
        for stage in stages
    }
    graph = chain_stages(commands) if args.sequential else graph_stages(commands)
    watch = StageWatch(
        int(args.memory_limit_gib * GIB),
        args.stage_timeout,
        workers=cluster.workers if cluster else (),
        cluster_stages=CLUSTER_STAGES if cluster else frozenset(),
    )

    def ended(outcome: StageOutcome) -> None:
        watch.end(outcome)
        _print_outcome(scale, outcome, watch)

    outcomes = GraphRun(
        graph,
        data_dir / "logs",
        jobs=1 if args.sequential else args.jobs,
        cwd=REPO,
        watch=watch,
        on_start=watch.start,
        on_end=ended,
    ).run()
    counts = _manifest_counts(data_dir)
    results = [
        _result(scale, outcome, watch, stage_records(outcome.name, counts), cluster)
        for outcome in outcomes
        if not outcome.status.startswith("not run")
    ]
    if not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return results


def _result(
    scale: float,
    outcome: StageOutcome,
    watch: StageWatch,
    records: int,
    cluster: LocalDaskCluster | None,
) -> StageResult:
    on_cluster = cluster is not None and outcome.name in CLUSTER_STAGES
    status = outcome.status if outcome.ok else f"{outcome.status} (see {outcome.log})"
    return StageResult(
        scale,
        outcome.name,
        outcome.seconds,
        watch.max_process[outcome.name] / GIB,
        watch.tree_peak[outcome.name] / GIB,
        records,
        status,
        runs_on=f"cluster ({LocalDaskCluster.WORKERS} workers)" if on_cluster else "single process",
        max_worker_gib=watch.worker_peak[outcome.name] / GIB if on_cluster else float("nan"),
        cpu_seconds=outcome.cpu_seconds,
        started=outcome.started,
    )


def _print_outcome(scale: float, outcome: StageOutcome, watch: StageWatch) -> None:
    print(
        f"  {scale:g}x {outcome.name:<18} {outcome.started:7.1f} -> {outcome.ended:7.1f} s"
        f"  wall {outcome.seconds:8.1f} s  CPU {outcome.cpu_seconds:8.1f} s"
        f"  max process {watch.max_process[outcome.name] / GIB:5.2f} GiB"
        f"  tree {watch.tree_peak[outcome.name] / GIB:5.2f} GiB  {outcome.status}",
        flush=True,
    )


def _manifest_counts(data_dir: Path) -> dict[str, int]:
    manifest = data_dir / "world" / "manifest.json"
    if not manifest.exists():
        return {}
    return {k: int(v) for k, v in json.loads(manifest.read_text())["counts"].items()}


def report(results: list[StageResult], mode: str, args: argparse.Namespace) -> str:
    base = {r.stage: r for r in results if r.scale == min(x.scale for x in results)}
    lines = [
        f"`python bench/scale.py {' '.join(sys.argv[1:])}` ({mode}). Each stage is its own "
        "process; `max process` is the largest single process of the stage's tree, `tree` the "
        "sum at its peak; cost per record against the smallest scale of this run "
        "(the named baseline; goal at 10x: within 1.3x). `starts at` is seconds after the "
        "scale's first stage started; the pipeline's wall runs from the first start to the last "
        "end (goal at 10x: 10 minutes), beside the sum of the stages' walls.",
        "",
        "| scale | stage | runs on | starts at s | wall s | CPU s | max process GiB | "
        "max worker GiB | tree GiB | records | us/record | vs 1x | CPU us/record | vs 1x "
        "| status |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | --- |",
    ]
    for r in results:
        ratio = (
            r.microseconds_per_record / base[r.stage].microseconds_per_record
            if r.stage in base
            else float("nan")
        )
        cpu_ratio = (
            r.cpu_microseconds_per_record / base[r.stage].cpu_microseconds_per_record
            if r.stage in base
            else float("nan")
        )
        worker = "" if r.max_worker_gib != r.max_worker_gib else f"{r.max_worker_gib:.2f}"
        lines.append(
            f"| {r.scale:g}x | {r.stage} | {r.runs_on} | {r.started:,.1f} | {r.seconds:,.1f} | "
            f"{r.cpu_seconds:,.1f} | "
            f"{r.max_process_gib:.2f} | {worker} | {r.tree_gib:.2f} | {r.records:,} | "
            f"{r.microseconds_per_record:,.1f} | {ratio:.2f} | "
            f"{r.cpu_microseconds_per_record:,.1f} | {cpu_ratio:.2f} | {r.status} |"
        )
    total_name = "whole pipeline" if set(STAGES) <= set(args.stages) else "stages run"
    for scale in sorted({r.scale for r in results}):
        ran = [r for r in results if r.scale == scale]
        wall = pipeline_wall(ran)
        walls = sum(r.seconds for r in ran)
        peak = max(r.max_process_gib for r in ran)
        cpu = sum(r.cpu_seconds for r in ran)
        lines.append(
            f"| {scale:g}x | **{total_name}** | {mode} | 0.0 | **{wall:,.1f}** | {cpu:,.1f} | "
            f"{peak:.2f} | | | | | | | | stages' walls sum to {walls:,.1f} s |"
        )
    if args.cluster:
        single = [stage for stage in args.stages if stage not in CLUSTER_STAGES]
        lines += [
            "",
            f"On the cluster (a scheduler and {LocalDaskCluster.WORKERS} one-thread workers on "
            "this machine, `--scheduler`): "
            + ", ".join(s for s in args.stages if s in CLUSTER_STAGES)
            + ". Single process (no cluster path): "
            + (", ".join(single) or "none")
            + ".",
        ]
    lines += [
        "",
        "Before this work (the issue's figures, same machine class): 1x / 10x",
        "",
        "| stage | 1x | 10x |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {stage} | {one} | {ten} |" for stage, (one, ten) in ISSUE_BASELINE.items()]
    lines.append("| whole pipeline | 305 s, 1.6 GB | 3,260 s, 21.8 GB |")
    return "\n".join(lines)


def pipeline_wall(results: Sequence[StageResult]) -> float:
    """Seconds from the first stage's start to the last one's end."""
    return max(r.started + r.seconds for r in results) - min(r.started for r in results)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 3.0, 10.0])
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="the stages with a cluster path (CLUSTER_STAGES) on a two-worker Dask cluster; "
        "the others single-process",
    )
    parser.add_argument(
        "--root", type=Path, help="where the installations go (default: a temp folder)"
    )
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="every stage after the one before it (default: the graph on --jobs slots)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="stages run at once in the graph")
    parser.add_argument("--keep", action="store_true", help="keep each scale's installation")
    parser.add_argument("--memory-limit-gib", type=float, default=20.0)
    parser.add_argument("--stage-timeout", type=float, default=3 * 3600.0)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    args = parser.parse_args(argv)
    args.stages = with_prerequisites(args.stages)
    root = args.root or Path(tempfile.mkdtemp(prefix="lodestar-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    results: list[StageResult] = []
    order = "one after another" if args.sequential else f"the stage graph on {args.jobs} slots"
    mode = (
        f"{order}; the stages with a cluster path on a two-worker Dask cluster"
        if args.cluster
        else f"{order}, single process each"
    )
    print(f"bench/scale.py: {mode}, scales {args.scales}, under {root}")
    if args.cluster:
        single = [stage for stage in args.stages if stage not in CLUSTER_STAGES]
        print(f"  single process (no cluster path): {', '.join(single) or 'none'}")
        with LocalDaskCluster(root) as cluster:
            for scale in args.scales:
                results += run_scale(scale, args.stages, root, args, cluster)
    else:
        for scale in args.scales:
            results += run_scale(scale, args.stages, root, args, None)
    text = report(results, mode, args)
    print(text)
    if not args.no_write:
        name = "Scale (bench/scale.py" + (", LocalCluster" if args.cluster else "")
        write_section(name + (", sequential)" if args.sequential else ", stage graph)"), text)
    return 0 if all(r.status == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
