"""The whole pipeline at several world sizes: each stage's wall time, peak memory and cost per
record, one process per stage as a user runs them.

    python bench/scale.py                      # 1x, 3x and 10x, single process
    python bench/scale.py --scales 1 3 10 30   # and 30x
    python bench/scale.py --cluster            # training and scoring on a two-worker LocalCluster
    python bench/scale.py --scales 1 --stages generate ingest   # a quick look

Stages (the commands of ``make demo`` and ``make models``, each its own process):
``generate`` (``lodestar generate``), ``ingest`` (``lodestar ingest --local``), ``snapshot``,
``risk-train``, ``risk-score`` (into alerts), ``esg-train``, ``mastery-train``,
``recommender-train``. Memory is read from the stage's process tree every
``POLL_SECONDS``: ``max process`` is the largest single process (the issue's bound: 4 GiB),
``tree`` the sum over the tree at its peak. A stage whose tree passes ``--memory-limit-gib``
is stopped and reported as such, so a run never takes the machine down. Cost per record
divides the wall time by the records the stage reads (the world's manifest counts: all
records for generate and ingest, releases for procurement, suppliers and their events for
ESG, statements for the study models). The 1x run in the same invocation is the baseline of
the larger ones; the issue's figures before this work are quoted beside them.
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
from dataclasses import dataclass
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results import write_section

POLL_SECONDS = 0.2
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


@dataclass
class StageResult:
    scale: float
    stage: str
    seconds: float
    max_process_gib: float
    tree_gib: float
    records: int
    status: str  # "ok", "failed (rc N)", "stopped at the memory limit"

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
    for member in [process, *process.children(recursive=True)]:
        try:
            sizes.append(member.memory_info().rss)
        except psutil.Error:
            continue
    return (max(sizes, default=0), sum(sizes))


def run_stage(
    command: list[str], log: Path, limit_bytes: int, timeout: float
) -> tuple[float, int, int, str]:
    """Run ``command`` to its end: (seconds, max process bytes, max tree bytes, status)."""
    started = time.perf_counter()
    with log.open("w") as output:
        child = subprocess.Popen(command, cwd=REPO, stdout=output, stderr=subprocess.STDOUT)
        watched = psutil.Process(child.pid)
        biggest = tree = 0
        status = "ok"
        while child.poll() is None:
            single, total = tree_memory(watched)
            biggest, tree = max(biggest, single), max(tree, total)
            if total > limit_bytes:
                status = f"stopped at the memory limit ({total / GIB:.1f} GiB)"
                _stop(watched)
                break
            if time.perf_counter() - started > timeout:
                status = f"stopped after {timeout:.0f} s"
                _stop(watched)
                break
            time.sleep(POLL_SECONDS)
        rc = child.wait()
    seconds = time.perf_counter() - started
    if status == "ok" and rc != 0:
        status = f"failed (rc {rc}; see {log})"
    return seconds, biggest, tree, status


def _stop(process: psutil.Process) -> None:
    family = [*process.children(recursive=True), process]
    for member in family:
        try:
            member.kill()
        except psutil.Error:
            continue


class LocalDaskCluster:
    """A scheduler and two one-thread workers on 127.0.0.1, as separate processes."""

    def __init__(self, root: Path, port: int = 8786) -> None:
        self.address = f"tcp://127.0.0.1:{port}"
        self.root = root
        self.processes: list[subprocess.Popen[bytes]] = []
        self.port = port

    def __enter__(self) -> LocalDaskCluster:
        dask = str(BIN / "dask")
        log = (self.root / "dask.log").open("w")
        self.processes.append(
            subprocess.Popen(
                [
                    dask,
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--no-dashboard",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        time.sleep(3)
        for number in range(2):
            self.processes.append(
                subprocess.Popen(
                    [
                        dask,
                        "worker",
                        self.address,
                        "--nthreads",
                        "1",
                        "--nworkers",
                        "1",
                        "--name",
                        f"bench-{number}",
                        "--local-directory",
                        str(self.root / "dask"),
                        "--no-dashboard",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        time.sleep(5)
        return self

    def __exit__(self, *_: object) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def run_scale(
    scale: float, stages: Sequence[str], root: Path, args: argparse.Namespace, scheduler: str | None
) -> list[StageResult]:
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
    results = []
    counts: dict[str, int] = {}
    for stage in stages:
        if stage != "generate" and not counts:
            counts = _manifest_counts(data_dir)
        command = stage_command(stage, data_dir, scale, scheduler)
        seconds, single, tree, status = run_stage(
            command, data_dir / f"{stage}.log", int(args.memory_limit_gib * GIB), args.stage_timeout
        )
        if stage == "generate":
            counts = _manifest_counts(data_dir)
        result = StageResult(
            scale, stage, seconds, single / GIB, tree / GIB, stage_records(stage, counts), status
        )
        print(
            f"  {scale:g}x {stage:<18} {seconds:8.1f} s  "
            f"max process {result.max_process_gib:5.2f} GiB"
            f"  tree {result.tree_gib:5.2f} GiB  {result.microseconds_per_record:8.1f} us/record"
            f"  {status}",
            flush=True,
        )
        results.append(result)
        if status != "ok":
            break
    if not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return results


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
        "(the named baseline; goal at 10x: within 1.3x).",
        "",
        "| scale | stage | wall s | max process GiB | tree GiB | records | us/record | vs 1x | "
        "status |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        ratio = (
            r.microseconds_per_record / base[r.stage].microseconds_per_record
            if r.stage in base
            else float("nan")
        )
        lines.append(
            f"| {r.scale:g}x | {r.stage} | {r.seconds:,.1f} | {r.max_process_gib:.2f} | "
            f"{r.tree_gib:.2f} | {r.records:,} | {r.microseconds_per_record:,.1f} | {ratio:.2f} | "
            f"{r.status} |"
        )
    for scale in sorted({r.scale for r in results}):
        total = sum(r.seconds for r in results if r.scale == scale)
        peak = max(r.max_process_gib for r in results if r.scale == scale)
        lines.append(f"| {scale:g}x | **whole pipeline** | {total:,.1f} | {peak:.2f} | | | | | |")
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 3.0, 10.0])
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="training and scoring on a two-worker LocalCluster (dask)",
    )
    parser.add_argument(
        "--root", type=Path, help="where the installations go (default: a temp folder)"
    )
    parser.add_argument("--keep", action="store_true", help="keep each scale's installation")
    parser.add_argument("--memory-limit-gib", type=float, default=20.0)
    parser.add_argument("--stage-timeout", type=float, default=3 * 3600.0)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    args = parser.parse_args(argv)
    root = args.root or Path(tempfile.mkdtemp(prefix="lodestar-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    results: list[StageResult] = []
    mode = "training and scoring on a two-worker LocalCluster" if args.cluster else "single process"
    print(f"bench/scale.py: {mode}, scales {args.scales}, under {root}")
    if args.cluster:
        with LocalDaskCluster(root) as cluster:
            for scale in args.scales:
                results += run_scale(scale, args.stages, root, args, cluster.address)
    else:
        for scale in args.scales:
            results += run_scale(scale, args.stages, root, args, None)
    text = report(results, mode, args)
    print(text)
    if not args.no_write:
        name = "Scale (bench/scale.py, LocalCluster)" if args.cluster else "Scale (bench/scale.py)"
        write_section(name, text)
    return 0 if all(r.status == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
