"""The recommender's snapshots in the service: which one a request is answered from, and
their rebuilds off the request path.

Suggestions are ranked from a ``features.learning.snapshot.Snapshot``: every member's dense
state strictly before a moment. A full build is too slow for a request, so no request in the
steady state waits for one. ``Study`` keeps two:

* the live snapshot, for requests without ``as_of``: as of the end of the current hour (so
  statements posted a minute ago count), built by ``load_learning`` before the service
  reports ready;
* one for an explicit ``as_of`` (the start of its hour), built by the first request for that
  hour, which waits (replaying a past moment is not the steady state), and kept until a
  request for another hour replaces it. ``ReplayBudget`` bounds those builds for all callers.

After a push (``StudyData.drain`` names the members it touched), those members' rows in both
are out of date. Each such member's next suggestion request recomputes their rows first
(``Snapshot.with_members``, the code of the full build applied to their statements) and keeps
them; on the live snapshot they are computed at the current hour's end, so statements of a new
hour count. What stays from the last full build, and how old it may be:

* the population parts (``snapshot.Population``) and the catalogue. A background thread
  rebuilds the live snapshot in full when the first live request of a new hour comes, and,
  after posted statements, once ``SNAPSHOT_REFRESH_SECONDS`` have passed since the previous
  build started. So a post enters the live population at most ``SNAPSHOT_REFRESH_SECONDS``
  plus one build after the first suggestion request that follows it; during the first build
  of an hour the population is as of the previous hour's end (content published in that hour
  is not suggested yet, and at a month's turn the mandatory flags are last month's);
* the rows of members who posted nothing since the last full build: computed at its moment,
  at most an hour plus one build before the live moment (their days since practice are that
  much short; nothing they posted is missing);
* the explicit-moment snapshot's population is never refreshed: it is that of the data when
  its first request came, with posters' rows updated as above.

Statements stamped at or after the moment of the snapshot they are merged into (a client's
clock ahead) count from the first full build past their stamp. Moments are naive UTC.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pandas as pd

from core.clock import utc_now
from features.learning.data import LearningData
from features.learning.snapshot import Population, Snapshot
from features.online.study import (
    StudyData,
)
from serving.api.schemas.common import ModelRef
from serving.platform.errors import ApiError
from serving.platform.ratelimit import InProcessRateLimiter
from serving.settings import RateLimit

if TYPE_CHECKING:
    from models.learning.mastery import MasteryModel
    from models.learning.recommender import StudyRecommender

logger = logging.getLogger(__name__)

MASTERY_MODEL = "mastery"  # the names training registers (the registry is the hand-off)
RECOMMENDER_MODEL = "study-recommender"
SNAPSHOT_REFRESH_SECONDS = 300


def live_moment(now: datetime) -> datetime:
    """The moment the live snapshot is as of: the end of ``now``'s hour (UTC), so that every
    statement stored so far counts."""
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


class ReplayBudget:
    """The full snapshot builds that requests for past hours may start, all callers together
    (a full build takes its CPU from every other request): a token bucket; beyond it
    a request for an hour not kept is refused with 429 and ``Retry-After``, while requests
    for kept hours and live requests go on."""

    def __init__(self, limit: RateLimit, limiter: InProcessRateLimiter | None = None) -> None:
        self._limit = limit
        self._limiter = limiter or InProcessRateLimiter(max_keys=1)

    def take(self) -> None:
        wait = self._limiter.take("replay", self._limit)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise ApiError(
                429,
                "rate_limited",
                "too many suggestion requests for past hours; retry in "
                f"{retry_after} s, or ask for an hour asked for recently",
                headers={"Retry-After": str(retry_after)},
            )


def check_as_of(moment: datetime, now: datetime, max_age: timedelta) -> None:
    """Refuse (422) an explicit ``as_of`` (naive UTC) older than ``max_age`` or after the
    live moment (the end of ``now``'s hour): each such hour is a full snapshot build."""
    if moment > live_moment(now) or moment < now - max_age:
        raise ApiError(
            422,
            "validation_error",
            f"as_of must be within the last {max_age.days} days and not in the future",
        )


@dataclass
class _Kept:
    """A kept snapshot and the members whose rows in it miss merged statements (each with
    the number of the merge that marked it). While a full build for this slot runs,
    ``merged_during_build`` collects the members merged after the build took its data: they
    are the stale ones of the new snapshot."""

    snapshot: Snapshot | None = None
    stale: dict[str, int] = field(default_factory=dict)
    merged_during_build: dict[str, int] | None = None

    def mark(self, member_keys: Iterable[str], merge: int) -> None:
        for key in member_keys:
            self.stale[key] = merge
            if self.merged_during_build is not None:
                self.merged_during_build[key] = merge

    def install(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.stale = self.merged_during_build or {}
        self.merged_during_build = None


@dataclass(eq=False)
class Study:
    """What the study routes need, shared by every request.

    Snapshots (see the module docstring): the live one (``start`` builds it, a background
    thread rebuilds it) and one for an explicit moment. A request takes the kept snapshot;
    when its member has statements merged since their rows were computed, their rows are
    recomputed first (``Snapshot.with_members``) and the result kept.
    ``builds`` counts full builds, ``member_updates`` row updates."""

    mastery: MasteryModel
    mastery_version: str
    recommender: StudyRecommender
    recommender_version: str
    data: StudyData
    refresh_seconds: float = SNAPSHOT_REFRESH_SECONDS
    as_of_max_age: timedelta = timedelta(days=1830)
    replay_budget: ReplayBudget | None = None
    builds: int = 0
    member_updates: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _update_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _build_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _wake: threading.Condition = field(init=False, repr=False)
    _live: _Kept = field(default_factory=_Kept, repr=False)
    _other: _Kept = field(default_factory=_Kept, repr=False)
    _merges: int = field(default=0, repr=False)
    _live_moment: datetime | None = field(default=None, repr=False)
    _live_behind: bool = field(default=False, repr=False)
    _last_live_build: float = field(default=-math.inf, repr=False)
    _retry_at: float = field(default=-math.inf, repr=False)
    _builder_running: bool = field(default=False, repr=False)
    _live_building: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        self._wake = threading.Condition(self._lock)

    # -- the snapshots ----------------------------------------------------------------------

    def start(self, now: datetime | None = None) -> None:
        """Build the live snapshot (as of the end of ``now``'s hour) unless there is one: at
        startup, before the service reports ready, so that no request waits for it."""
        with self._build_lock:
            with self._lock:
                if self._live.snapshot is not None:
                    return
                moment = live_moment(now or utc_now())
                self._live_moment = moment
                data = self._absorb()
                self._live.merged_during_build = {}
                self._live_behind = False
                self._last_live_build = time.monotonic()
            try:
                built = self._build(data, moment)
            except Exception:
                with self._lock:
                    self._live.merged_during_build = None
                raise
            with self._lock:
                self._live.install(built)

    def snapshot_for(self, member_key: str, moment: datetime | None = None) -> Snapshot:
        """The snapshot to answer ``member_key`` from, with that member's rows reflecting
        every statement merged so far. ``moment`` None: the live snapshot (the end of the
        current hour); else the one at the start of ``moment``'s hour (built on its first
        request: the service keeps one such, besides the live one)."""
        if moment is None:
            target = live_moment(utc_now())
            with self._lock:
                self._absorb()
                started = self._live.snapshot is not None
                if started and (self._live_moment is None or target > self._live_moment):
                    self._live_moment = target
                    self._ensure_builder()
            if not started:
                self.start()
            view = self._member_view(self._live, member_key, None)
            assert view is not None
            return view
        hour = pd.Timestamp(moment.replace(minute=0, second=0, microsecond=0))
        while True:  # again if another moment's build replaced the kept one meanwhile
            view = self._member_view(self._kept_at(hour), member_key, hour)
            if view is not None:
                return view

    @property
    def live_population(self) -> Population | None:
        """The population parts of the live snapshot (those of its last full build)."""
        with self._lock:
            return None if self._live.snapshot is None else self._live.snapshot.population

    @property
    def building(self) -> bool:
        """Whether a background build of the live snapshot is running now."""
        with self._lock:
            return self._live_building

    @property
    def refresh_pending(self) -> bool:
        """Whether the live snapshot's population misses merged statements or the hour
        requests have moved to (a background build is due, waiting or running)."""
        with self._lock:
            snapshot, moment = self._live.snapshot, self._live_moment
            moved = (
                snapshot is not None
                and moment is not None
                and snapshot.population.as_of < pd.Timestamp(moment)
            )
            return self._live_building or self._live_behind or moved

    def _absorb(self) -> LearningData:
        """The current data; members merged since the last call are marked stale in both
        kept snapshots, and a live refresh is scheduled. Under ``_lock``."""
        data, touched = self.data.drain()
        if touched:
            self._merges += 1
            for kept in (self._live, self._other):
                kept.mark(touched, self._merges)
            if self._live.snapshot is not None:
                self._live_behind = True
                self._ensure_builder()
        return data

    def _build(self, data: LearningData, moment: datetime) -> Snapshot:
        built = self.recommender.snapshot_at(data, moment)
        with self._lock:
            self.builds += 1
        return built

    def _kept_at(self, hour: pd.Timestamp) -> _Kept:
        """The slot whose snapshot is fully built as of ``hour``, building one if none is
        (the request waits: explicit moments are for replaying the past, not the steady
        state; concurrent requests wait for the one build)."""
        with self._lock:
            found = self._find(hour)
        if found is not None:
            return found
        with self._build_lock:
            with self._lock:
                found = self._find(hour)
                if found is not None:
                    return found
                if self.replay_budget is not None:
                    self.replay_budget.take()
                data = self._absorb()
                self._other.merged_during_build = {}
            try:
                built = self._build(data, hour.to_pydatetime())
            except Exception:
                with self._lock:
                    self._other.merged_during_build = None
                raise
            with self._lock:
                self._other.install(built)
                return self._other

    def _find(self, hour: pd.Timestamp) -> _Kept | None:
        for kept in (self._live, self._other):
            if kept.snapshot is not None and _fully_at(kept.snapshot, hour):
                return kept
        return None

    def _member_view(
        self, kept: _Kept, member_key: str, hour: pd.Timestamp | None
    ) -> Snapshot | None:
        """``kept``'s snapshot after recomputing ``member_key``'s rows if they are stale (at
        the live moment for the live snapshot, so that statements of a new hour count);
        None if ``hour`` is given and the slot no longer holds that hour's snapshot."""

        def held() -> Snapshot | None:
            snapshot = kept.snapshot
            if snapshot is None or (hour is not None and not _fully_at(snapshot, hour)):
                return None
            return snapshot

        with self._lock:
            self._absorb()
            snapshot = held()
            if snapshot is None or member_key not in kept.stale:
                return snapshot
        with self._update_lock:
            with self._lock:
                data = self._absorb()
                snapshot = held()
                merge = kept.stale.get(member_key)
                if snapshot is None or merge is None:
                    return snapshot
                moment = snapshot.as_of
                if hour is None and self._live_moment is not None:
                    moment = max(moment, self._live_moment)
            updated = snapshot.with_members(data, [member_key], as_of=moment)
            with self._lock:
                self.member_updates += 1
                if kept.snapshot is snapshot:
                    kept.snapshot = updated
                    if kept.stale.get(member_key) == merge:
                        del kept.stale[member_key]
            return updated

    # -- the background refresh of the live snapshot ----------------------------------------

    def _ensure_builder(self) -> None:
        """Start the refresh thread, or wake it to look again. Under ``_lock``."""
        if self._builder_running:
            self._wake.notify_all()
            return
        self._builder_running = True
        threading.Thread(target=self._refresh, name="study-snapshot", daemon=True).start()

    def _next_live_build(self) -> datetime | None:
        """The moment to build the live snapshot for next, once it is due (waiting on
        ``_wake`` until then), or None when nothing is to do. Under ``_lock``."""
        while True:
            snapshot, moment = self._live.snapshot, self._live_moment
            if snapshot is None or moment is None:
                return None
            now = time.monotonic()
            if now < self._retry_at:
                self._wake.wait(self._retry_at - now)
                continue
            if snapshot.population.as_of < pd.Timestamp(moment):
                return moment
            if not self._live_behind:
                return None
            due = self._last_live_build + self.refresh_seconds
            if now >= due:
                return moment
            self._wake.wait(due - now)

    def _refresh(self) -> None:
        """Full builds of the live snapshot off the request path: at once when requests have
        moved to a new hour, and at most once per ``refresh_seconds`` while statements are
        merged. Requests use the previous snapshot meanwhile."""
        while True:
            with self._lock:
                moment = self._next_live_build()
                if moment is None:
                    self._builder_running = False
                    return
                data = self._absorb()
                self._live.merged_during_build = {}
                self._live_behind = False
                self._last_live_build = time.monotonic()
                self._live_building = True
            try:
                built = self._build(data, moment)
            except Exception:
                logger.exception("building the study snapshot failed; the previous one is kept")
                with self._lock:  # the posts it was for are still missing: retry later
                    self._live_building = False
                    self._live_behind = True
                    self._live.merged_during_build = None
                    self._retry_at = time.monotonic() + self.refresh_seconds
                continue
            with self._lock:
                self._live.install(built)
                self._live_building = False

    def with_models(
        self,
        mastery: MasteryModel,
        mastery_version: str,
        recommender: StudyRecommender,
        recommender_version: str,
    ) -> Study:
        """A study over the same live data with other champions, its live snapshot built
        (seconds: call it off the request path, then swap it in). The check-in detection of
        the shared data moves to ``mastery`` too."""
        if recommender is not self.recommender:
            recommender.attach(self.data.current(), kp_names=self.data.kp_names)
        self.data.use_mastery(mastery)
        study = Study(
            mastery=mastery,
            mastery_version=mastery_version,
            recommender=recommender,
            recommender_version=recommender_version,
            data=self.data,
            refresh_seconds=self.refresh_seconds,
            as_of_max_age=self.as_of_max_age,
            replay_budget=self.replay_budget,
        )
        study.start()
        return study

    @property
    def mastery_ref(self) -> ModelRef:
        return ModelRef(name=MASTERY_MODEL, version=self.mastery_version)

    @property
    def recommender_ref(self) -> ModelRef:
        return ModelRef(name=RECOMMENDER_MODEL, version=self.recommender_version)


def _fully_at(snapshot: Snapshot, hour: pd.Timestamp) -> bool:
    """Whether ``snapshot`` is as of ``hour``, population included (not a live snapshot whose
    rows moved on to a later hour)."""
    return bool(snapshot.population.as_of == hour and pd.Timestamp(snapshot.as_of) == hour)
