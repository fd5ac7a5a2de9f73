"""The bounded loopback load generator the HTTP benchmarks share.

``drive`` sends at most ``total`` requests for at most ``seconds`` from ``clients`` threads,
each on one keep-alive connection to 127.0.0.1: never another address, never unbounded.
"""

from __future__ import annotations

import http.client
import math
import threading
import time
from dataclasses import dataclass, field

import numpy as np

Request = tuple[str, str, bytes | None]  # method, path, body


@dataclass
class Load:
    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    first_error: str = ""

    @property
    def requests(self) -> int:
        return len(self.latencies_s) + self.errors

    def percentile_ms(self, q: float) -> float:
        return 1000 * float(np.quantile(self.latencies_s, q)) if self.latencies_s else math.nan

    @property
    def throughput(self) -> float:
        return len(self.latencies_s) / self.seconds if self.seconds else math.nan


def drive(
    port: int,
    requests: list[Request],
    headers: dict[str, str],
    *,
    clients: int,
    total: int,
    seconds: float,
    timeout: float = 60.0,
) -> Load:
    """``total`` requests (at most ``seconds``) from ``clients`` threads, each on one
    keep-alive loopback connection, cycling through ``requests``."""
    load = Load()
    lock = threading.Lock()
    counter = iter(range(total))
    deadline = time.monotonic() + seconds

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        mine: list[float] = []
        errors, first_error = 0, ""
        while time.monotonic() < deadline:
            with lock:
                n = next(counter, None)
            if n is None:
                break
            method, path, body = requests[n % len(requests)]
            started = time.perf_counter()
            try:
                connection.request(method, path, body, headers)
                response = connection.getresponse()
                answer = response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException) as error:
                ok, answer = False, repr(error).encode()
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            elapsed = time.perf_counter() - started
            if ok:
                mine.append(elapsed)
            else:
                errors += 1
                first_error = first_error or answer[:300].decode(errors="replace")
        connection.close()
        with lock:
            load.latencies_s += mine
            load.errors += errors
            load.first_error = load.first_error or first_error

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    load.seconds = time.perf_counter() - started
    return load
