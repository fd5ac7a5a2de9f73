"""The service's one open ``Store`` behind one lock.

DuckDB's Python connection must not be used by two threads at once, and the service keeps a
single connection (DuckDB allows one writing process per file). Every store access therefore
goes through ``SharedStore.use()``, which holds one ``threading.Lock``; callers run in the
threadpool (plain ``def`` routes, ``anyio.to_thread``), never on the event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from store.database import Store


class SharedStore:
    """The one open ``Store``, used by one thread at a time."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()

    @contextmanager
    def use(self) -> Iterator[Store]:
        with self._lock:
            yield self._store

    def close(self) -> None:
        with self._lock:
            self._store.close()
