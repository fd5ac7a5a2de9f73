"""The command line of the procurement risk job.

Usage::

    python -m training.procurement_risk train [--data-dir DIR] [--key-file FILE]
        [--snapshot DIR] [--tracking-uri URI] [--review-capacity 0.03] [--n-estimators 100]
        [--num-leaves 7] [--learning-rate 0.1] [--calibration platt|isotonic]
        [--train-end YYYY-MM-DD] [--calibration-end YYYY-MM-DD] [--label-cutoff YYYY-MM-DD]
        [--seed 0] [--scheduler tcp://host:8786] [--quiet]
    python -m training.procurement_risk score [--data-dir DIR] [--key-file FILE]
        [--tracking-uri URI] [--alias champion] [--store-write] [--scheduler ADDRESS] [--quiet]

The tracking URI is ``--tracking-uri``, else ``LODESTAR_MLFLOW_TRACKING_URI``, else
``sqlite:///<data_dir>/mlflow.db`` (``Settings.resolved_mlflow_tracking_uri``); it is always
set explicitly before MLflow is touched. With a SQLite store the run artefacts go to
``<folder of the .db>/mlartifacts``, never to a ``./mlruns`` in the working folder.

The Dask scheduler is ``--scheduler``, else ``LODESTAR_DASK_SCHEDULER``; with neither, both
commands run in this process (``training.distributed`` says what runs where with one).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from functools import partial

from training.cli import (
    INSTALLATION_ERRORS,
    add_option_arguments,
    installation_arguments,
    run_training,
    scheduler_address,
    scheduler_arguments,
    settings_from,
    snapshot_arguments,
)
from training.procurement_risk.options import ERRORS, REGISTERED_MODEL, TrainingOptions
from training.procurement_risk.run import TrainResult, train
from training.procurement_risk.scoring import score
from training.tracking import CHAMPION


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training.procurement_risk",
        description="Train, evaluate and register the procurement risk model; batch-score.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    common = installation_arguments()
    cluster = scheduler_arguments()

    fit = commands.add_parser(
        "train",
        parents=[common, snapshot_arguments(), cluster],
        help="train, evaluate, register, gate",
    )
    add_option_arguments(fit, TrainingOptions)

    batch = commands.add_parser(
        "score", parents=[common, cluster], help="score the store with a model"
    )
    batch.add_argument("--alias", default=CHAMPION)
    batch.add_argument(
        "--store-write",
        action="store_true",
        help="write the alerts table (needs the store read-write: stop the service first)",
    )
    return parser


def _print_evaluation(result: TrainResult, options: TrainingOptions) -> None:
    split, metrics = result.split, result.metrics
    print(
        f"split: train < {split.train_end}, calibrate < {split.calibration_end}, "
        f"test from {split.calibration_end}; data version {result.data_version[:12]}"
    )
    print(result.summary)
    print(
        f"\nBrier {metrics['model.brier']:.4f} (uncalibrated "
        f"{metrics['model.brier_uncalibrated']:.4f}); test months alerted at orange or "
        f"above: {metrics['model.alert_share_orange_or_above']:.1%} (review capacity "
        f"{options.review_capacity:.1%}, thresholds set on the calibration months)"
    )


def _score_command(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    started = time.perf_counter()
    try:
        scored = score(
            settings,
            tracking_uri=args.tracking_uri,
            alias=args.alias,
            store_write=args.store_write,
            quiet=args.quiet,
            scheduler=scheduler_address(args.scheduler),
        )
    except ERRORS + INSTALLATION_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    written = (
        f"{scored.written} new rows in alerts"
        if scored.written is not None
        else "nothing written (add --store-write)"
    )
    print(
        f"{REGISTERED_MODEL} v{scored.model_version}: {scored.scored:,} processes, "
        f"{len(scored.alerts):,} warnings {scored.by_level}; {written} "
        f"({time.perf_counter() - started:.1f} s)"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "score":
        return _score_command(args)
    if (args.train_end is None) != (args.calibration_end is None):
        parser.error("give both --train-end and --calibration-end, or neither")
    return run_training(
        args,
        TrainingOptions,
        partial(train, scheduler=scheduler_address(args.scheduler)),
        model_name=REGISTERED_MODEL,
        errors=ERRORS,
        report=_print_evaluation,
    )
