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
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.results import write_section
from training.collusion.markets import load_market
from training.collusion.transfer import EvaluationOptions, evaluate_transfer, render_transfer

SWISS = "procurement/collusion/DB_Collusion_Switzerland_GR_and_See-Gaster_processed.csv"
BRAZIL = "procurement/collusion/DB_Collusion_Brazil_processed.csv"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.collusion")
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--world-dir", type=Path)
    parser.add_argument("--truth-dir", type=Path)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=200)
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
    options = EvaluationOptions(rounds=args.rounds, folds=args.folds)
    report = evaluate_transfer(markets, options)
    table = render_transfer(report)
    print(table)
    body = (
        "Command: `python -m bench.collusion` (demo world at scale"
        f" {args.scale}, default seed; {time.perf_counter() - started:.0f} s). Same table:"
        " `python -m training.collusion lomo --market <Swiss csv> --market <Brazil csv>"
        " --market <world>/procurement/releases.jsonl --truth <truth>`.\n\n" + table
    )
    write_section("Bid rigging across markets (bench/collusion.py)", body)


if __name__ == "__main__":
    main()
