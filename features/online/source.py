"""One online-feature layer: sources of in-memory feature state, fed by pushed store rows.

The pattern is a feature store's online store with push sources. The store (DuckDB) stays the
record of truth; each ``OnlineSource`` keeps the in-memory state that features are computed
from (the procurement history; next, the ESG and study histories) and is told of new rows by
``push`` right after they are inserted. ``OnlineFeatureStore`` routes one batch of rows to
every source that consumes one of its tables and returns what each did.

Writing a source (the contract ESG and study sources follow):

* ``name``: unique among the sources (``"procurement"``, ``"esg"``, ``"study"``).
* ``tables``: the store tables it consumes (``store.schema`` names). A batch maps a table
  name to a frame of NEW or CHANGED rows with that table's columns (lineage columns may be
  present and are ignored); the source gets only its tables of the batch.
* ``push(batch) -> PushOutcome``: apply the rows; must be
  - idempotent: pushing rows it already holds changes nothing and reports nothing new;
  - order-tolerant and point in time: rows dated in the past (a late delivery report) land
    at their dates; a feature as of ``t`` uses only what was dated before ``t``, exactly as a
    full build over the same rows would (the tests compare with a full build);
  - a whole entity per push where the state is per entity (procurement: every row of a
    contracting process; say in the source's docstring what "whole" means for it);
  - serialised: pushes take the source's own lock, one at a time.
* ``view()``: the current state as an immutable object. A push builds the next state beside
  the current one (copy-on-write: the parts it touches are new objects, the rest is shared)
  and publishes it with one reference assignment, so a reader never sees a half-applied push
  and never waits for one. A request takes one view at its start and uses only it.
* ``version``: how many pushes changed the state; a view of a later version includes every
  earlier one.

Several worker processes. Each process holds its own ``OnlineFeatureStore`` built from the
store at start and fed the same pushes in the same order. With one writer (the service) the
pushes come from its ingest calls; with several workers, each one replays from the store's
ingest log instead: rows carry ``ingested_at`` and ``ingest_runs`` lists the runs, so a worker
keeps a watermark (the last run it applied), reads the rows of later runs (for procurement,
the whole processes they touched: ``features.procurement.history.load_process_frames``) and
pushes them. Because pushes are idempotent, replaying an overlap is harmless, and workers
agree once they have reached the same watermark.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar, runtime_checkable

import pandas as pd

ViewT = TypeVar("ViewT")
ViewT_co = TypeVar("ViewT_co", covariant=True)


@dataclass(frozen=True)
class PushOutcome:
    """What one source did with one push.

    ``new`` and ``changed``: the keys (procurement: ocids) whose entities were added or
    replaced, in the order pushed: what needs re-scoring. ``unchanged``: entities pushed again
    as they were. ``rows_in``: rows the source was given; ``ignored_rows``: rows it could not
    place (for procurement: rows of a process whose ``processes`` row was not in the push).
    ``version``: the source's version after the push. ``pushed_at``: ``time.perf_counter()``
    when the push started (for push-to-alert timing in the same process); ``seconds``: how
    long applying it took.
    """

    source: str
    new: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    unchanged: int = 0
    rows_in: int = 0
    ignored_rows: int = 0
    version: int = 0
    pushed_at: float = 0.0
    seconds: float = 0.0

    @property
    def touched(self) -> tuple[str, ...]:
        """New then changed keys."""
        return self.new + self.changed


@runtime_checkable
class OnlineSource(Protocol[ViewT_co]):
    """In-memory feature state fed by pushed store rows (the contract: module docstring)."""

    @property
    def name(self) -> str: ...

    @property
    def tables(self) -> frozenset[str]: ...

    @property
    def version(self) -> int: ...

    def push(self, batch: Mapping[str, pd.DataFrame]) -> PushOutcome: ...

    def view(self) -> ViewT_co: ...


class Published(Generic[ViewT]):
    """The current immutable view of a source and the lock its pushes take.

    ``apply(change)`` runs ``change(current) -> (next view or None, result)`` under the push
    lock and publishes the next view with one assignment; ``current`` is read without any
    lock (readers never wait for a push)."""

    def __init__(self, view: ViewT) -> None:
        self._state: tuple[ViewT, int] = (view, 0)
        self.lock = threading.Lock()

    @property
    def current(self) -> ViewT:
        return self._state[0]

    @property
    def version(self) -> int:
        return self._state[1]

    def publish(self, view: ViewT) -> int:
        """Make ``view`` current (the caller holds ``lock``); returns the new version."""
        version = self._state[1] + 1
        self._state = (view, version)
        return version


@dataclass(frozen=True)
class BatchOutcome:
    """The outcomes of one batch by source name, and the batch's tables no source consumes."""

    outcomes: dict[str, PushOutcome] = field(default_factory=dict)
    unrouted_tables: tuple[str, ...] = ()

    def __getitem__(self, source: str) -> PushOutcome:
        return self.outcomes[source]


class UnknownSourceError(KeyError):
    pass


class OnlineFeatureStore:
    """The service's online sources; ``push`` sends each source the tables it consumes.

    Sources are independent: each has its own push lock and view, so a procurement push never
    holds up a study reader. ``push`` is safe to call from several threads."""

    def __init__(self, sources: Iterable[OnlineSource[object]]) -> None:
        self._sources: dict[str, OnlineSource[object]] = {}
        for source in sources:
            if source.name in self._sources:
                raise ValueError(f"two online sources named {source.name!r}")
            self._sources[source.name] = source

    @property
    def tables(self) -> frozenset[str]:
        return frozenset(table for source in self._sources.values() for table in source.tables)

    def source(self, name: str) -> OnlineSource[object]:
        try:
            return self._sources[name]
        except KeyError:
            raise UnknownSourceError(name) from None

    def push(self, batch: Mapping[str, pd.DataFrame]) -> BatchOutcome:
        """Route ``batch`` (table name → new or changed rows, store columns) to the sources
        consuming its tables, in the order they were given; empty frames are skipped."""
        outcomes: dict[str, PushOutcome] = {}
        for name, source in self._sources.items():
            part = {
                table: frame
                for table, frame in batch.items()
                if table in source.tables and not frame.empty
            }
            if part:
                outcomes[name] = source.push(part)
        unrouted = tuple(sorted(set(batch) - self.tables))
        return BatchOutcome(outcomes, unrouted)


def elapsed_since(started: float) -> float:
    """Seconds since ``started`` (a ``time.perf_counter()`` reading)."""
    return time.perf_counter() - started
