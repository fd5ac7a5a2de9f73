"""``python -m training.collusion``: the detector's sub-commands.

Usage::

    python -m training.collusion --data PATH ...                 # within-file CV (``cv``)
    python -m training.collusion lomo --market A --market B [--holdout C] [--truth DIR]
    python -m training.collusion transfer --train A --train B --score C [--truth DIR]
    python -m training.collusion train --market A --market B [--holdout C] [--truth DIR]
        [--candidate NAME ...]                                   # champion gate, registers

A market is a labelled bid CSV (García Rodríguez et al. layout) or OCDS compiled releases
(``.jsonl``); ``--truth`` is a demo-world truth folder giving OCDS files their labels (see
``training.collusion.markets``). Without a sub-command the arguments go to ``cv`` (the
original command, unchanged).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from core.settings import Settings
from models.collusion.detector import DEFAULT_ROUNDS, KINDS, CollusionDetector
from training.cli import write_report
from training.collusion import cv
from training.collusion.champion import CANDIDATES, GATE_METRIC, render_candidates
from training.collusion.markets import Market, load_market
from training.collusion.registry import REGISTERED_MODEL, train_and_register
from training.collusion.transfer import (
    MODEL_SPECS,
    EvaluationOptions,
    evaluate_transfer,
    render_transfer,
    scores_metrics,
)

SUBCOMMANDS = ("cv", "lomo", "transfer", "train")


def _load(paths: Sequence[Path], truth: Path | None, min_bids: int) -> list[Market]:
    return [load_market(path, min_bids=min_bids, truth_dir=truth) for path in paths]


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--truth", type=Path, help="truth folder labelling OCDS (.jsonl) markets")
    parser.add_argument("--min-bids", type=int, default=3, help="drop tenders with fewer bids")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="LightGBM rounds")
    parser.add_argument("--out", type=Path, default=cv.DEFAULT_OUT, metavar="DIR")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.collusion")
    sub = parser.add_subparsers(dest="command", required=True)
    lomo = sub.add_parser("lomo", help="leave-one-market-out table beside within-market CV")
    lomo.add_argument("--market", type=Path, action="append", required=True)
    lomo.add_argument("--holdout", type=Path, action="append", default=[])
    lomo.add_argument("--folds", type=int, default=5)
    lomo.add_argument("--model", action="append", choices=list(MODEL_SPECS), default=None)
    _common(lomo)
    transfer = sub.add_parser("transfer", help="fit on labelled files, score another file")
    transfer.add_argument("--train", type=Path, action="append", required=True)
    transfer.add_argument("--score", type=Path, required=True)
    transfer.add_argument("--kind", choices=KINDS, default="consistent_logistic")
    transfer.add_argument("--feature-set", default="ranked")
    _common(transfer)
    train = sub.add_parser("train", help=f"fit, register as {REGISTERED_MODEL!r} and gate")
    train.add_argument("--market", type=Path, action="append", required=True)
    train.add_argument("--holdout", type=Path, action="append", default=[])
    train.add_argument(
        "--candidate",
        action="append",
        choices=list(CANDIDATES),
        default=None,
        help="candidates competing for champion (default: all)",
    )
    train.add_argument("--min-improvement", type=float, default=0.0)
    train.add_argument("--tracking-uri")
    _common(train)
    return parser


def run_lomo(args: argparse.Namespace) -> int:
    markets = _load(args.market, args.truth, args.min_bids)
    holdout = _load(args.holdout, args.truth, args.min_bids)
    models = tuple(args.model) if args.model else tuple(MODEL_SPECS)
    options = EvaluationOptions(rounds=args.rounds, folds=args.folds, seed=args.seed, models=models)
    report = evaluate_transfer(markets, options, holdout_only=holdout)
    markdown = "# Bid-rigging detection across markets\n\n" + render_transfer(report) + "\n"
    print(markdown)
    write_report(args.out, "collusion_lomo", markdown, report.to_dict())
    return 0


def run_transfer(args: argparse.Namespace) -> int:
    train = _load(args.train, args.truth, args.min_bids)
    scored = load_market(args.score, min_bids=args.min_bids, truth_dir=args.truth)
    detector = CollusionDetector(
        kind=args.kind, feature_set=args.feature_set, rounds=args.rounds, seed=args.seed
    )
    detector.fit(
        pd.concat([m.screens for m in train], ignore_index=True),
        np.concatenate([np.asarray(m.labels) for m in train]),
        markets=np.concatenate([np.full(len(m.screens), m.name) for m in train]),
    )
    probability = detector.predict_proba(scored.screens)
    scores = scored.screens[["bid_count"]].assign(probability=probability)
    result: dict[str, object] = {
        "trained_on": [m.name for m in train],
        "scored": scored.name,
        "tenders": len(scores),
        "kind": args.kind,
    }
    if scored.labels is not None:
        scores["collusive"] = scored.labels
        result["metrics"] = scores_metrics(
            scored.labels.to_numpy(), probability, probabilities=True
        )
    args.out.mkdir(parents=True, exist_ok=True)
    scores.to_csv(args.out / "collusion_transfer_scores.csv")
    (args.out / "collusion_transfer.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


def run_train(args: argparse.Namespace) -> int:
    markets = _load(args.market, args.truth, args.min_bids)
    holdout = _load(args.holdout, args.truth, args.min_bids)
    registered = train_and_register(
        Settings(),
        markets,
        holdout=holdout,
        candidates=tuple(args.candidate or CANDIDATES),
        rounds=args.rounds,
        seed=args.seed,
        min_improvement=args.min_improvement,
        tracking_uri=args.tracking_uri,
    )
    print(render_candidates(registered.report, champion=registered.model))
    decision = "promoted to champion" if registered.gate.promoted else "kept as challenger"
    print(
        f"{REGISTERED_MODEL} v{registered.model_version} ({registered.model}),"
        f" {GATE_METRIC} {registered.gate.challenger_metric:.3f}: {decision}"
        f" — {registered.gate.reason}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in SUBCOMMANDS:
        return cv.main(argv)
    if argv[0] == "cv":
        return cv.main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        return {"lomo": run_lomo, "transfer": run_transfer, "train": run_train}[args.command](args)
    except cv.CollusionDataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
