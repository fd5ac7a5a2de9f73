"""Scoring requests share the GIL: no more than ``SCORING_SLOTS`` score at once, the others
wait for a slot without holding it, so the live path is not starved by every open request."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

from serving.jobs.procurement import SCORING_SLOTS, assess_releases

HELD_SECONDS = 0.05


class _CountingRisk:
    """Stands where a ``ProcurementRisk`` does: taking its history (the first thing scoring
    does) counts the threads inside and holds a moment."""

    def __init__(self) -> None:
        self.inside = 0
        self.most_inside = 0
        self._lock = threading.Lock()

    @property
    def history(self) -> None:
        with self._lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        time.sleep(HELD_SECONDS)
        with self._lock:
            self.inside -= 1


def test_no_more_than_the_slots_score_at_once() -> None:
    risk = _CountingRisk()
    threads = [
        threading.Thread(target=assess_releases, args=(cast(Any, risk), []))
        for _ in range(3 * SCORING_SLOTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert risk.most_inside == SCORING_SLOTS
