"""A daemon thread that runs one task every so many seconds until stopped.

The snapshot schedule, the champion watcher and the retrain schedule each own one. The first
run is one interval after ``start``; a run that raises is logged and the schedule goes on;
``stop`` waits (up to its timeout) for a run under way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Periodic:
    def __init__(self, name: str, every_s: float, task: Callable[[], object]) -> None:
        self.name = name
        self.every_s = every_s
        self._task = task
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread; nothing when the interval is 0 or it already runs."""
        if self.every_s <= 0 or self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float | None = None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self._task()
            except Exception:
                logger.exception("%s failed; next run in %.0f s", self.name, self.every_s)
