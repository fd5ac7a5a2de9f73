"""Generate the whole demo world: procurement and suppliers, and learning, in parallel.

The two halves share nothing but the config, so they run in two processes. Each half writes
its files and truth, and returns its counts.
"""

from __future__ import annotations

import gc
import json
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from world.config import WorldConfig
from world.feedback_reports import generate_feedback_reports
from world.layout import MANIFEST

GC_THRESHOLDS = (100_000, 50, 100)
"""The cyclic collector's thresholds while a half runs. The generator builds millions of small
acyclic objects (plans, bids, release dicts) that reference counting frees; at Python's
default (700, 10, 10) the collector walks the live ones again and again, a cost that grows
with the number alive, so with the scale. Cycles are still collected, less often."""


@contextmanager
def fewer_collections() -> Iterator[None]:
    """``GC_THRESHOLDS`` inside, the previous thresholds after."""
    before = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _procurement(config: WorldConfig, world_dir: Path, truth_dir: Path) -> dict[str, int]:
    from world.procurement import generate_procurement_world

    with fewer_collections():
        return generate_procurement_world(config, world_dir, truth_dir)


def _learning(config: WorldConfig, world_dir: Path, truth_dir: Path) -> dict[str, int]:
    from world.learning import generate_learning_world
    from world.meetings import generate_meetings_world

    with fewer_collections():
        return {
            **generate_learning_world(config, world_dir, truth_dir),
            **generate_meetings_world(config, world_dir, truth_dir),
        }


def generate_world(
    config: WorldConfig, world_dir: Path, truth_dir: Path, *, parallel: bool = True
) -> dict[str, object]:
    """Write the world and truth folders from scratch; returns the manifest."""
    for folder in (world_dir, truth_dir):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
    started = time.perf_counter()
    if parallel:
        with ProcessPoolExecutor(max_workers=2) as pool:
            procurement = pool.submit(_procurement, config, world_dir, truth_dir)
            learning = pool.submit(_learning, config, world_dir, truth_dir)
            counts = {**procurement.result(), **learning.result()}
    else:
        counts = {
            **_procurement(config, world_dir, truth_dir),
            **_learning(config, world_dir, truth_dir),
        }
    with fewer_collections():
        counts.update(generate_feedback_reports(config, world_dir, truth_dir))  # reads both
    manifest: dict[str, object] = {
        "generator": "lodestar demo world",
        "config": {k: str(v) for k, v in asdict(config).items()},
        "counts": counts,
    }
    (world_dir / MANIFEST).write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True), encoding="utf-8"
    )
    manifest["seconds"] = round(time.perf_counter() - started, 2)
    return manifest
