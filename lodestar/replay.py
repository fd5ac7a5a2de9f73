"""Replay the demo world's last months through a running service, as the platform would.

``lodestar demo --until DAY`` cuts the world at ``DAY`` (``world.cut``) and ingests only what
an installation held then; ``lodestar replay --from DAY`` posts the rest to the running
service piece by piece (one piece per ``piece_days`` of world time, every kind of file the
piece holds, in the demo world's file order), pacing the pieces at ``speed`` world days per
real minute, and prints what each piece did: records accepted and quarantined, processes new
and changed in the live history, warnings written, and the time from the store commit to the
warnings committed.

The cut is written once under ``<data dir>/replay/<DAY>-<piece_days>d/`` and reused, so a
replay can be stopped and started again: the service's ingestion is idempotent, and pieces
already posted add nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ingest.client import ServiceIngestError, send_file, service_answers
from world.cut import AFTER, BEFORE, WorldCut, cut_world
from world.layout import world_paths

CUT_DONE = ".cut-complete"


@dataclass(frozen=True)
class ReplayPlan:
    """Where the world is cut and how fast the pieces after the cut are posted."""

    start: date
    piece_days: int = 1
    speed: float = 6.0  # world days per real minute


def cut_folder(data_dir: Path, start: date, piece_days: int) -> Path:
    return data_dir / "replay" / f"{start.isoformat()}-{piece_days}d"


def ensure_cut(world_dir: Path, data_dir: Path, start: date, piece_days: int) -> WorldCut:
    """The world cut at ``start`` (written now, or the complete cut written earlier)."""
    out = cut_folder(data_dir, start, piece_days)
    if (out / CUT_DONE).exists():
        pieces = sorted(p for p in (out / AFTER).iterdir() if p.is_dir())
        return WorldCut(before=out / BEFORE, pieces=pieces)
    if out.exists():
        _remove_tree(out)
    if not (world_dir / "manifest.json").exists():
        raise FileNotFoundError(f"no world at {world_dir}: run `lodestar generate` first")
    cut = cut_world(world_dir, out, start, piece_days=piece_days)
    (out / CUT_DONE).write_text(start.isoformat() + "\n", encoding="utf-8")
    return cut


def _remove_tree(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder)


def wait_for_service(url: str, seconds: float, *, pause: float = 1.0) -> bool:
    """Poll ``/healthz`` until the service answers or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while True:
        if service_answers(url):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)


def piece_day(piece: Path) -> str:
    """``after/03-2025-12-03`` -> ``2025-12-03``."""
    return piece.name.split("-", 1)[1]


def describe(day: str, answers: list[dict[str, Any]]) -> str:
    """One line per piece: what the service accepted and what the live history did with it."""
    records = sum(int(a["records_in"]) for a in answers)
    accepted = sum(int(a["accepted"]) for a in answers)
    quarantined = sum(int(a["quarantined"]) for a in answers)
    new_rows = sum(int(a["new_rows"]) for a in answers)
    procurement: dict[str, int] = {}
    slowest: float | None = None
    version = None
    for answer in answers:
        live = answer.get("live") or {}
        for key, value in (live.get("procurement") or {}).items():
            procurement[key] = procurement.get(key, 0) + int(value)
        seconds = live.get("commit_to_alert_seconds")
        if seconds is not None:
            slowest = seconds if slowest is None else max(slowest, seconds)
        version = live.get("model_version") or version
    line = (
        f"{day}: {records:,} records ({accepted:,} accepted, {quarantined:,} quarantined, "
        f"{new_rows:,} new rows)"
    )
    if procurement:
        line += (
            f"; processes new {procurement.get('new', 0)}, changed "
            f"{procurement.get('changed', 0)}; warnings written "
            f"{procurement.get('alerts_written', 0)}, refreshed "
            f"{procurement.get('alerts_refreshed', 0)}, withdrawn "
            f"{procurement.get('alerts_withdrawn', 0)}"
        )
    if version is not None:
        line += f" by procurement-risk v{version}"
    if slowest is not None:
        line += f"; commit to warning {slowest * 1000:.0f} ms"
    return line


def post_piece(url: str, token: str, piece: Path) -> list[dict[str, Any]]:
    """Every file of one piece, in the world's file order; the service's answers."""
    return [
        send_file(url, token, kind, path, filename=f"replay-{piece_day(piece)}-{path.name}")
        for kind, path in world_paths(piece)
        if path.exists()
    ]


def replay(
    cut: WorldCut,
    plan: ReplayPlan,
    url: str,
    token: str,
    *,
    say: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Post each piece after the cut in order, paced; the number of pieces posted.

    Raises ``ServiceIngestError`` when the service refuses a file or goes away."""
    seconds_per_piece = plan.piece_days * 60.0 / plan.speed if plan.speed > 0 else 0.0
    posted = 0
    for piece in cut.pieces:
        started = time.monotonic()
        answers = post_piece(url, token, piece)
        posted += 1
        say(describe(piece_day(piece), answers))
        sleep(max(0.0, seconds_per_piece - (time.monotonic() - started)))
    return posted


__all__ = [
    "ReplayPlan",
    "ServiceIngestError",
    "cut_folder",
    "describe",
    "ensure_cut",
    "replay",
    "wait_for_service",
]
