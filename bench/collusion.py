"""Leave-one-market-out table of the bid-rigging detector, written to bench/RESULTS.md.

Usage::

    python -m bench.collusion [--shared ../shared/data] [--world-dir DIR --truth-dir DIR]
        [--scale 1.0] [--folds 5] [--rounds 200]

Markets: the Swiss and Brazilian files of ``<shared>/procurement/collusion/`` and the demo
world's planted rings (``world.procurement`` at ``--scale``, default seed, written to a
temporary folder unless ``--world-dir``/``--truth-dir`` name an existing one). Every market is
held out in turn; within-market CV and the single-screen rules sit beside it (see
``training.collusion.transfer``). The same table comes from
``python -m training.collusion lomo --market … --truth …``.

Then, in the same run (alone with ``--gate-only``, in its own section), the champion gate
(``training.collusion.champion``): the candidates the service can run compete served on the
Swiss and Brazilian files (each held out in turn), the demo world scored only by candidates
fitted on both, never trained or tuned on; and the champion's recall of the planted rings
(tenders of three bids or more) at the review capacities: the transfer table's top 5 % and
the risk model's 3 % (``TrainingOptions.review_capacity``). ``python -m training.collusion
train --market <Swiss> --market <Brazil> --holdout <world> --truth <truth>`` registers the
same champion.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.results import write_section
from training.collusion.champion import (
    candidate_detector,
    evaluate_candidates,
    fit_on,
    render_candidates,
    served_scores,
)
from training.collusion.markets import Market, load_market
from training.collusion.transfer import EvaluationOptions, evaluate_transfer, render_transfer
from training.metrics.binary import recall_at_k
from training.procurement_risk.options import TrainingOptions

SWISS = "procurement/collusion/DB_Collusion_Switzerland_GR_and_See-Gaster_processed.csv"
BRAZIL = "procurement/collusion/DB_Collusion_Brazil_processed.csv"
GATE_SECTION = "Bid rigging: the collusion champion gate (bench/collusion.py --gate-only)"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.collusion")
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--world-dir", type=Path)
    parser.add_argument("--truth-dir", type=Path)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument(
        "--gate-only",
        action="store_true",
        help="only the champion gate and recall (own RESULTS section), not the LOMO table",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        world_dir, truth_dir = args.world_dir, args.truth_dir
        if world_dir is None or truth_dir is None:
            from world.config import WorldConfig
            from world.procurement import generate_procurement_world

            world_dir, truth_dir = Path(scratch) / "world", Path(scratch) / "truth"
            generate_procurement_world(WorldConfig(scale=args.scale), world_dir, truth_dir)
        markets = [
            load_market(args.shared / SWISS),
            load_market(args.shared / BRAZIL),
            load_market(world_dir / "procurement/releases.jsonl", truth_dir=truth_dir),
        ]
    if args.gate_only:
        gate = champion_section(markets[:2], markets[2], rounds=args.rounds)
        print(gate)
        rounds = f" --rounds {args.rounds}" if args.rounds != 200 else ""
        write_section(
            GATE_SECTION,
            f"Command: `python -m bench.collusion --gate-only{rounds}` (demo world at scale"
            f" {args.scale}, default seed; {time.perf_counter() - started:.0f} s).\n\n" + gate,
        )
        return
    options = EvaluationOptions(rounds=args.rounds, folds=args.folds)
    report = evaluate_transfer(markets, options)
    table = render_transfer(report)
    print(table)
    gate = champion_section(markets[:2], markets[2], rounds=args.rounds)
    print(gate)
    command = (
        "python -m bench.collusion"
        + (f" --folds {args.folds}" if args.folds != 5 else "")
        + (f" --rounds {args.rounds}" if args.rounds != 200 else "")
    )
    body = (
        f"Command: `{command}` (demo world at scale"
        f" {args.scale}, default seed; {time.perf_counter() - started:.0f} s). Same table:"
        " `python -m training.collusion lomo --market <Swiss csv> --market <Brazil csv>"
        " --market <world>/procurement/releases.jsonl --truth <truth>`.\n\n"
        + table
        + "\n\n### Champion gate: the candidates the service can run, served\n\n"
        + gate
    )
    write_section("Bid rigging across markets (bench/collusion.py)", body)


def champion_section(training: list[Market], world: Market, *, rounds: int) -> str:
    """The gate table (training markets held out in turn, ``world`` scored only) and the
    champion's planted-ring recall on ``world`` at the review capacities."""
    report = evaluate_candidates(training, holdout=[world], rounds=rounds)
    champion = report.best()
    detector = fit_on(candidate_detector(champion, rounds=rounds), training)
    scores = served_scores(detector, world).fillna(0.5).to_numpy(dtype=float)
    labels = np.asarray(world.labels)
    lines = [render_candidates(report, champion=champion), ""]
    lines += [
        f"Champion: **{champion}**. Its recall of the demo world's {int(labels.sum())} planted"
        f" ring tenders (of {labels.size} tenders with three bids or more), fitted on"
        f" {', '.join(m.name for m in training)} only:",
        "",
        "| review capacity | tenders reviewed | rings found | recall |",
        "| --- | ---: | ---: | ---: |",
    ]
    for share in (0.05, TrainingOptions().review_capacity):
        k = max(1, round(share * labels.size))
        recall = recall_at_k(labels, scores, k)
        lines.append(f"| top {share:.0%} | {k} | {round(recall * labels.sum())} | {recall:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
