"""``lodestar``: the data command line (keys, demo world, ingestion, store summary).

    lodestar keys init                 # a local key file (git-ignored), once per installation
    lodestar generate --scale 1        # the demo world and its truth folder
    lodestar generate --parquet        # ... and world/parquet/<table>/part-N.parquet too
    lodestar ingest                    # ingest the demo world (or --kind KIND FILE...):
                                       # through the running service if one answers and
                                       # LODESTAR_TOKEN is set, else into the store
    lodestar summary                   # row counts, quarantine reasons, last ingestion runs
    lodestar classification            # every column's data classification (markdown)
    lodestar snapshot                  # an encrypted Parquet snapshot of the store, for training
    lodestar snapshot --list           # the snapshots kept under <data_dir>/snapshots
    lodestar demo                      # keys + generate (if missing) + ingest
    lodestar demo --until 2025-12-01   # ... ingesting only what was dated before that day
    lodestar models                    # snapshot, then train and score as a graph on 2 slots
    lodestar replay --from 2025-12-01  # post the rest, day by day, to the running service

Settings come from ``LODESTAR_*`` environment variables; ``--data-dir`` and ``--key-file``
override them. Exit codes: 0 success, 1 a command failed with a message, 2 bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from tqdm import tqdm

from core.settings import (
    MissingSecretError,
    Settings,
    init_key_file,
    owner_only_files,
    rotate_field_key,
)
from ingest.client import ServiceIngestError
from ingest.layout import standard_paths
from ingest.run import IngestReport, UnknownReaderError
from store.database import StoreError
from store.schema import TABLES
from store.snapshot import SnapshotError

TOKEN_VARIABLE = "LODESTAR_TOKEN"


class UsageError(ValueError):
    """The command line is incomplete (exit 2)."""


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = Path(args.data_dir)
    if getattr(args, "key_file", None):
        overrides["key_file"] = Path(args.key_file)
    return Settings(**overrides)  # type: ignore[arg-type]


def cmd_keys(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.action == "init":
        created = init_key_file(settings.key_file)
        state = "created" if created else "already exists, kept"
        print(f"key file {settings.key_file}: {state}")
    else:
        new_id = rotate_field_key(settings.key_file)
        print(f"new field key {new_id} is active; older keys still decrypt existing rows")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from world.config import WorldConfig
    from world.generate import generate_world

    settings = _settings(args)
    config = WorldConfig(seed=args.seed, scale=args.scale)
    world_dir, truth_dir = settings.resolved_world_dir, settings.resolved_truth_dir
    print(f"generating the demo world (seed {config.seed}, scale {config.scale}) ...")
    with tqdm(total=1, desc="demo world", unit="world", disable=args.quiet) as bar:
        manifest = generate_world(config, world_dir, truth_dir)
        bar.update(1)
    counts = manifest["counts"]
    assert isinstance(counts, dict)
    for name, value in counts.items():
        print(f"  {name:<28} {value:>10,}")
    print(f"world: {world_dir}   truth: {truth_dir}   ({manifest['seconds']} s)")
    if getattr(args, "parquet", False):
        from core.security import PersonalData
        from world.parquet import PARQUET_DIR, write_parquet_partitions

        rows = write_parquet_partitions(world_dir, PersonalData(settings.keyring()))
        for name, value in sorted(rows.items()):
            print(f"  {name:<28} {value:>10,}")
        print(f"parquet partitions: {world_dir / PARQUET_DIR}")
    return 0


def _progress_for(quiet: bool) -> Callable[[str, Path], Callable[[int], None] | None]:
    def on_file(kind: str, path: Path) -> Callable[[int], None] | None:
        if quiet:
            return None
        bar = tqdm(desc=f"{kind:<24}", unit="rec", unit_scale=True, leave=False)
        return bar.update

    return on_file


def _files_to_ingest(args: argparse.Namespace, settings: Settings) -> list[tuple[str, Path]]:
    """(kind, path) of each file the command names, or of the world folder's files."""
    if args.files:
        if not args.kind:
            raise UsageError("--kind is required with files (see `lodestar ingest --help`)")
        return [(args.kind, Path(f)) for f in args.files]
    world_dir = Path(args.world) if args.world else settings.resolved_world_dir
    if not world_dir.exists():
        raise FileNotFoundError(f"no world at {world_dir}: run `lodestar generate` first")
    return [(kind, path) for kind, path in standard_paths(world_dir) if path.exists()]


def _ingest_through_service(
    url: str, token: str, files: list[tuple[str, Path]]
) -> list[IngestReport]:
    from ingest.client import report_of, send_file

    return [report_of(send_file(url, token, kind, path)) for kind, path in files]


def _ingest_into_store(
    settings: Settings, files: list[tuple[str, Path]], *, quiet: bool, readers: int = 2
) -> list[IngestReport]:
    """Into the store at ``settings``; with ``readers`` 2 the learning files and the others
    are parsed by two reader processes while this one stores (``ingest.parallel``)."""
    from core.security import PersonalData
    from ingest.parallel import ingest_files_parallel, lane_of
    from ingest.run import ingest_file
    from store.database import Store

    keyring = settings.keyring()
    personal = PersonalData(keyring)
    on_file = _progress_for(quiet)
    two_lanes = len({lane_of(kind) for kind, _ in files}) > 1
    with Store.open(settings, keyring) as store:
        if readers > 1 and two_lanes:
            reports = ingest_files_parallel(store, personal, keyring, files, on_file=on_file)
        else:
            reports = [
                ingest_file(store, personal, kind, path, on_chunk=on_file(kind, path))
                for kind, path in files
            ]
        store.checkpoint()
    return reports


def cmd_ingest(args: argparse.Namespace) -> int:
    """Through the running service when one answers at ``service_url`` and a token is given;
    else into the store directly (which fails, saying so, while a service holds it)."""
    from ingest.client import service_answers

    settings = _settings(args)
    url = args.service_url or settings.service_url
    token = args.token or os.environ.get(TOKEN_VARIABLE)
    started = time.perf_counter()
    answers = not args.local and service_answers(url)
    through_service = bool(answers and token)
    if not through_service:
        settings.keyring()  # a missing key is the first thing to say
    try:
        files = _files_to_ingest(args, settings)
    except UsageError as error:
        print(error)
        return 2
    if through_service:
        assert token is not None
        print(f"sending to the running service at {url}")
        reports = _ingest_through_service(url, token, files)
    else:
        if args.local:
            why = "--local"
        elif answers:
            why = f"a service answers at {url} but no token was given ({TOKEN_VARIABLE} or --token)"
        else:
            why = f"no service answers at {url}"
        print(f"ingesting into the store {settings.resolved_store_path} directly ({why})")
        reports = _ingest_into_store(
            settings, files, quiet=args.quiet, readers=getattr(args, "readers", 2)
        )
    total_in = sum(r.records_in for r in reports)
    total_ok = sum(r.accepted for r in reports)
    total_q = sum(r.quarantined for r in reports)
    for report in reports:
        print(report)
    print(
        f"{'total':<24} {'':<40} in {total_in:>9,} = accepted {total_ok:>9,} + "
        f"quarantined {total_q:>7,}   ({time.perf_counter() - started:.1f} s)"
    )
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from store.database import Store

    settings = _settings(args)
    with Store.open(settings, settings.keyring(), read_only=True) as store:
        print("table                      rows")
        for name, count in store.table_counts().items():
            print(f"  {name:<24} {count:>10,}")
        reasons = store.query(
            "SELECT reader, left(reason, 70) AS reason, count(*) AS n FROM quarantine "
            "GROUP BY ALL ORDER BY n DESC LIMIT 15"
        )
        if not reasons.empty:
            print("\nquarantine, top reasons")
            print(reasons.to_string(index=False))
        runs = store.query(
            "SELECT reader, regexp_extract(source_file, '[^/]+$') AS file, records_in, accepted, "
            "quarantined, new_rows, round(seconds, 2) AS seconds FROM ingest_runs "
            "ORDER BY started_at DESC LIMIT 12"
        )
        if not runs.empty:
            print("\nlatest ingestion runs")
            print(runs.to_string(index=False))
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    from store.database import Store
    from store.snapshot import SnapshotManifest, list_snapshots, snapshot_root, write_snapshot

    settings = _settings(args)
    root = snapshot_root(settings.data_dir)
    if args.list:
        snapshots = list_snapshots(root)
        if not snapshots:
            print(f"no snapshot under {root}")
        for folder in snapshots:
            manifest = SnapshotManifest.read(folder)
            rows = sum(manifest.row_counts.values())
            print(f"{folder}  {rows:>12,} rows  data version {manifest.data_version[:12]}")
        return 0
    keyring = settings.keyring()
    started = time.perf_counter()
    with Store.open(settings, keyring, read_only=True) as store:
        manifest = write_snapshot(store, root, keyring, keep=settings.snapshot_keep)
    rows = sum(manifest.row_counts.values())
    print(
        f"snapshot {manifest.path}: {len(manifest.tables)} tables, {rows:,} rows, data version "
        f"{manifest.data_version[:12]} ({time.perf_counter() - started:.1f} s; "
        f"keeping the newest {settings.snapshot_keep})"
    )
    return 0


def cmd_classification(args: argparse.Namespace) -> int:
    print("| table | column | type | level | personal | protection | description |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for table in TABLES.values():
        for c in table.columns:
            print(
                f"| {table.name} | {c.name} | {c.sql_type} | {c.level} | {c.personal} | "
                f"{c.protection} | {c.description} |"
            )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    settings = _settings(args)
    init_key_file(settings.key_file)
    if args.regenerate or not (settings.resolved_world_dir / "manifest.json").exists():
        if cmd_generate(args) != 0:
            return 1
    else:
        print(f"using the existing world at {settings.resolved_world_dir} (--regenerate to redo)")
    args.files, args.kind, args.world = [], None, None
    args.service_url, args.token, args.local = None, None, True
    if args.until:
        from lodestar.replay import ensure_cut

        cut = ensure_cut(settings.resolved_world_dir, settings.data_dir, args.until, 1)
        print(f"ingesting what the world held before {args.until} ({cut.before})")
        args.world = str(cut.before)
    return cmd_ingest(args)


def cmd_replay(args: argparse.Namespace) -> int:
    from lodestar.replay import ReplayPlan, ensure_cut, replay, wait_for_service

    settings = _settings(args)
    token = args.token or os.environ.get(TOKEN_VARIABLE)
    if not token:
        raise UsageError(f"replay needs an integration token ({TOKEN_VARIABLE} or --token)")
    plan = ReplayPlan(start=args.start, piece_days=args.piece_days, speed=args.speed)
    cut = ensure_cut(settings.resolved_world_dir, settings.data_dir, plan.start, plan.piece_days)
    url = args.service_url or settings.service_url
    if not wait_for_service(url, args.wait):
        print(f"lodestar: no service answered at {url} within {args.wait:g} s", file=sys.stderr)
        return 1
    print(
        f"replaying {len(cut.pieces)} pieces of {plan.piece_days} day(s) from {plan.start} "
        f"to {url} at {plan.speed:g} world days per minute"
    )
    posted = replay(cut, plan, url, token)
    print(f"replay done: {posted} pieces posted")
    return 0


COLLUSION_MARKETS = (
    "DB_Collusion_Switzerland_GR_and_See-Gaster_processed.csv",
    "DB_Collusion_Brazil_processed.csv",
)


def model_commands(collusion_data: Path | None) -> dict[str, list[str]]:
    """The command of each stage of ``make models`` (``lodestar.pipeline.MODEL_GRAPH``); the
    collusion model only when ``collusion_data`` holds the proven-cartel files."""
    python = [sys.executable, "-m"]
    commands = {
        "snapshot": [*python, "lodestar.cli", "snapshot", "--quiet"],
        "risk-train": [*python, "training.procurement_risk", "train", "--quiet"],
        "risk-score": [*python, "training.procurement_risk", "score", "--store-write", "--quiet"],
        "esg-train": [*python, "training.supplier_esg", "train", "--quiet"],
        "mastery-train": [*python, "training.mastery", "train", "--quiet"],
        "recommender-train": [*python, "training.recommender", "train", "--quiet"],
    }
    for stage, gate in (
        ("risk-train", "0.01"),
        ("esg-train", "0.01"),
        ("mastery-train", "0.005"),
        ("recommender-train", "0.01"),
    ):
        commands[stage] += ["--min-improvement", gate]
    markets = [collusion_data / name for name in COLLUSION_MARKETS] if collusion_data else []
    if markets and all(path.is_file() for path in markets):
        commands["collusion-train"] = [
            *python,
            "training.collusion",
            "train",
            "--min-improvement",
            "0",
            *(part for path in markets for part in ("--market", str(path))),
        ]
    return commands


def cmd_models(args: argparse.Namespace) -> int:
    """Snapshot the store, then train, gate and register every model and score the store into
    alerts: ``lodestar.pipeline``'s graph on ``--jobs`` slots, a line per stage started and
    ended, and the first failed stage's log."""
    from lodestar.pipeline import (
        GraphRun,
        Stage,
        StageOutcome,
        chain_stages,
        graph_stages,
        log_tail,
        prepare_tracking_store,
    )
    from training.tracking import resolve_tracking_uri

    settings = _settings(args)
    settings.keyring()  # a missing key is the first thing to say
    commands = model_commands(Path(args.collusion_data) if args.collusion_data else None)
    if "collusion-train" not in commands:
        where = f"in {args.collusion_data}" if args.collusion_data else "named (--collusion-data)"
        print(f"no proven-cartel files {where}: the risk model keeps the CV rule")
    stages = graph_stages(commands) if args.jobs > 1 else chain_stages(commands)
    env = dict(os.environ)
    env["LODESTAR_DATA_DIR"] = str(settings.data_dir.resolve())
    env["LODESTAR_KEY_FILE"] = str(settings.key_file.resolve())
    prepare_tracking_store(resolve_tracking_uri(settings))
    log_dir = settings.data_dir / "logs" / "models"
    print(f"{len(stages)} stages on {args.jobs} slot(s); logs in {log_dir}")
    heartbeat = {"next": args.heartbeat}

    def started(stage: Stage, at: float) -> None:
        after = f" (after {', '.join(stage.after)})" if stage.after else ""
        print(f"[{at:7.1f} s] start {stage.name}{after}", flush=True)

    def ended(outcome: StageOutcome) -> None:
        print(
            f"[{outcome.ended:7.1f} s] {'done' if outcome.ok else 'FAIL'}  {outcome.name:<18} "
            f"{outcome.seconds:7.1f} s wall {outcome.cpu_seconds:7.1f} s CPU  {outcome.status}",
            flush=True,
        )

    def ticked(running: list[str], at: float) -> None:
        if args.heartbeat and at >= heartbeat["next"]:
            heartbeat["next"] = at + args.heartbeat
            print(f"[{at:7.1f} s] running: {', '.join(running)}", flush=True)

    outcomes = GraphRun(
        stages, log_dir, jobs=args.jobs, env=env, on_start=started, on_end=ended, on_tick=ticked
    ).run()
    failed = [o for o in outcomes if not o.ok and not o.status.startswith("not run")]
    skipped = [o.name for o in outcomes if o.status.startswith("not run")]
    if failed:
        first = min(failed, key=lambda o: o.ended)
        print(f"\n{first.name} {first.status}; the end of {first.log}:\n{log_tail(first.log)}")
        if skipped:
            print(f"\nnot run: {', '.join(skipped)}")
        return 1
    wall = max(o.ended for o in outcomes)
    print(
        f"models: {len(outcomes)} stages in {wall:.1f} s wall "
        f"(stages' walls sum to {sum(o.seconds for o in outcomes):.1f} s)"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lodestar", description=__doc__.split("\n\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="data folder (default: $LODESTAR_DATA_DIR or ./data)")
    common.add_argument("--key-file", help="key file (default: .lodestar/keys.json)")
    common.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)

    keys = sub.add_parser("keys", parents=[common], help="create or rotate local keys")
    keys.add_argument("action", choices=["init", "rotate"])
    keys.set_defaults(func=cmd_keys)

    world_options = argparse.ArgumentParser(add_help=False)
    world_options.add_argument("--seed", type=int, default=20251)
    world_options.add_argument("--scale", type=float, default=1.0, help="1 = default size")

    generate = sub.add_parser(
        "generate", parents=[common, world_options], help="write the demo world"
    )
    generate.add_argument(
        "--parquet",
        action="store_true",
        help="also write world/parquet/<table>/part-N.parquet (typed store tables; needs keys)",
    )
    generate.set_defaults(func=cmd_generate)

    ingest = sub.add_parser("ingest", parents=[common], help="ingest files into the store")
    ingest.add_argument("files", nargs="*", help="files to ingest (default: the demo world)")
    ingest.add_argument("--kind", help="reader for the files: ocds, xapi, audit_outcomes, ...")
    ingest.add_argument("--world", help="a folder laid out like the demo world")
    ingest.add_argument(
        "--service-url", help="the running service (default: $LODESTAR_SERVICE_URL or local 8000)"
    )
    ingest.add_argument(
        "--token", help=f"bearer token for the service (default: ${TOKEN_VARIABLE})"
    )
    ingest.add_argument(
        "--local", action="store_true", help="ingest into the store directly, never the service"
    )
    ingest.add_argument(
        "--readers",
        type=int,
        choices=(1, 2),
        default=2,
        help="reader processes parsing while the store is written (default 2: learning files "
        "and the others side by side; 1: one file after another in this process)",
    )
    ingest.set_defaults(func=cmd_ingest)

    summary = sub.add_parser("summary", parents=[common], help="row counts and quarantine")
    summary.set_defaults(func=cmd_summary)

    snapshot = sub.add_parser(
        "snapshot",
        parents=[common],
        help="write an encrypted Parquet snapshot of the store (the service must be stopped)",
    )
    snapshot.add_argument("--list", action="store_true", help="list the snapshots kept")
    snapshot.set_defaults(func=cmd_snapshot)

    classification = sub.add_parser("classification", help="data classification of every column")
    classification.set_defaults(func=cmd_classification)

    demo = sub.add_parser(
        "demo", parents=[common, world_options], help="keys, demo world and ingestion in one go"
    )
    demo.add_argument("--regenerate", action="store_true", help="write the world again")
    demo.add_argument(
        "--until",
        type=date.fromisoformat,
        help="ingest only records dated before this day (the rest is for `lodestar replay`)",
    )
    demo.set_defaults(func=cmd_demo)

    models = sub.add_parser(
        "models",
        parents=[common],
        help="snapshot; train, gate and register every model; score the store into alerts",
    )
    models.add_argument(
        "--jobs", type=int, default=2, help="stages run at once (1: one after another)"
    )
    models.add_argument(
        "--collusion-data",
        help="folder of the proven-cartel files (the collusion model trains when both exist)",
    )
    models.add_argument(
        "--heartbeat", type=float, default=60.0, help="seconds between 'running:' lines (0: none)"
    )
    models.set_defaults(func=cmd_models)

    replay = sub.add_parser(
        "replay",
        parents=[common],
        help="post the world after a day to the running service, piece by piece",
    )
    replay.add_argument(
        "--from", dest="start", type=date.fromisoformat, required=True, help="first day"
    )
    replay.add_argument("--piece-days", type=int, default=1, help="world days per piece")
    replay.add_argument(
        "--speed", type=float, default=6.0, help="world days per real minute (0: no pause)"
    )
    replay.add_argument(
        "--service-url", help="the running service (default: $LODESTAR_SERVICE_URL or local 8000)"
    )
    replay.add_argument("--token", help=f"integration token (default: ${TOKEN_VARIABLE})")
    replay.add_argument(
        "--wait", type=float, default=600.0, help="seconds to wait for the service to answer"
    )
    replay.set_defaults(func=cmd_replay)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with owner_only_files():
            result: int = args.func(args)
        return result
    except UsageError as error:
        print(f"lodestar: {error}", file=sys.stderr)
        return 2
    except (
        MissingSecretError,
        StoreError,
        SnapshotError,
        FileNotFoundError,
        UnknownReaderError,
        ServiceIngestError,
    ) as error:
        print(f"lodestar: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
