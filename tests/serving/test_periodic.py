"""The periodic thread behind the schedules: runs its task, survives a failing one, stops."""

from __future__ import annotations

import threading
import time

from serving.platform.periodic import Periodic


def test_it_runs_again_after_a_failure_and_stops() -> None:
    calls: list[int] = []
    twice = threading.Event()

    def task() -> None:
        calls.append(1)
        if len(calls) >= 2:
            twice.set()
        if len(calls) == 1:
            raise RuntimeError("first run fails")

    periodic = Periodic("test-periodic", 0.01, task)
    periodic.start()
    assert twice.wait(5)
    periodic.stop(5)
    assert not periodic.running
    after_stop = len(calls)
    time.sleep(0.05)
    assert len(calls) == after_stop


def test_an_interval_of_zero_never_starts() -> None:
    periodic = Periodic("never", 0.0, lambda: None)
    periodic.start()
    assert not periodic.running
