"""Personalised study in the service: the mastery and recommender champions, the study data
they read, and the answers of the study routes.

Loading (``load_learning``, called by the lifespan) follows ``serving.jobs.esg``: the tracking URI
is ``Settings.resolved_mlflow_tracking_uri``; ``models:/mastery@champion`` and
``models:/study-recommender@champion`` are each resolved to a version and loaded (a moved
alias is swapped in by ``serving.live.swap``, over the same study source). Both
are needed: without either, ``/readyz`` names the missing one and the study read routes
answer 503 ``model_unavailable`` (``POST /v1/xapi/statements`` still stores statements: the
models read them once loaded).

The study data (``StudyData``) is the online layer's study source (``features.online.study``),
built from the store at startup: the statements the models need (no personal column but the
member pseudonym), the catalogue, the members' roster fields and the knowledge points. Rows
stored afterwards are pushed to it: by ingestion (``LearningState.push``, the hook in
``app.state.online_push``) and by ``POST /v1/xapi/statements`` (``StudyData.add_statements``),
so the poster's next mastery profile and suggestions reflect them. A push publishes a new
immutable view in which only the members it names have new rows; their event frame (the
mastery profile's input) is built on their next mastery read, their snapshot rows (below) on
their next suggestion request, so a read's cost does not grow with the number of members who
posted. The background rebuilds (the live snapshot, the check-in detection) read every
statement pushed so far, whoever was read.

Moments are UTC. ``as_of`` defaults to now. The time the suggestions must fit is the caller's
``minutes``, else the member's next free window from their roster at the real ``as_of``
(Asia/Shanghai wall time, ``features.rosters``).

Snapshots. Suggestions are ranked from a ``features.learning.candidates.Snapshot``: every
member's dense state strictly before a moment. A full build takes about 5-10 s for 2,000
members, so no request in the steady state waits for one. ``Study`` keeps two:

* the live snapshot, for requests without ``as_of``: as of the end of the current hour (so
  statements posted a minute ago count), built by ``load_learning`` before the service
  reports ready;
* one for an explicit ``as_of`` (the start of its hour), built by the first request for that
  hour, which waits (replaying a past moment is not the steady state), and kept until a
  request for another hour replaces it.

After a merge, the posting members' rows in both are out of date. Each such member's next
suggestion request recomputes their rows first (``Snapshot.with_members``, the code of the
full build applied to their statements: launches, completions, mastery, days since practice,
time ratio, check-in flag, KP interest, format shares, co-occurrence and EASE scores; tens of
milliseconds) and keeps them; on the live snapshot they are computed at the current hour's
end, so statements of a new hour count. What stays from the last full build, and how old it
may be:

* the population parts (``candidates.Population``): popularity over 90 days overall and per
  role, the members per item, the co-occurrence and EASE item-item weights, each role's
  format shares, the completion rate per item on day and shift rosters, the stand-in's
  success rate and the check-in detector's logged-minutes threshold; and the catalogue
  (items published before the build's moment, this month's mandatory items and themes). A
  background thread rebuilds the live snapshot in full when the first live request of a new
  hour comes, and, after posted statements, once ``SNAPSHOT_REFRESH_SECONDS`` (300 s) have
  passed since the previous build started. So a post enters the live population at most
  300 s plus one build's time (5-10 s on an idle machine) after the first suggestion request
  that follows it, and in the first seconds of an hour (one build) the population is as of
  the previous hour's end: content published in that hour is not suggested yet, and at a
  month's turn the mandatory flags are last month's;
* the rows of members who posted nothing since the last full build: computed at its moment,
  at most an hour plus one build before the live moment (their days since practice are that
  much short; nothing they posted is missing);
* the explicit-moment snapshot's population is never refreshed: it is that of the data when
  its first request came, with posters' rows updated as above.

Statements stamped at or after the moment of the snapshot they are merged into (a client's
clock ahead) count from the first full build past their stamp.

Check-in: ``features.learning.checkin.detect_check_in`` with the mastery champion over the
``CHECK_IN_DAYS`` days up to the latest statement (judged against every member with study
time in that window: it is a relative flag). It is computed at startup and, after a merge
(from the event frame of all the merged statements), in a background thread at most once per
``CHECK_IN_REFRESH_SECONDS`` (about 10 s of work for 2,000 members, too slow for a request):
until then the previous flags are shown.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from core.security import PersonalData
from features.learning.candidates import LOCAL_OFFSET, LearningData, Population, Snapshot
from features.learning.checkin import detect_check_in
from features.online.study import (
    STATEMENTS,
    STUDY_COLUMNS,
    STUDY_ROW_COLUMNS,
    StudyPushOutcome,
    StudySource,
)
from features.rosters import RosterError, next_free_window
from ingest.readers.common import RecordError
from ingest.readers.xapi import STATEMENT_COLUMNS, parse_statement
from serving.api.schemas.common import (
    ModelReadiness,
    ModelRef,
    has_lone_surrogate,
    lone_surrogate_paths,
)
from serving.api.schemas.learning import (
    BranchMasteryOut,
    CheckInOut,
    DomainMasteryOut,
    KpMasteryOut,
    MasteryOut,
    ReasonOut,
    RecommendationsOut,
    RejectedStatementOut,
    SuggestionOut,
)
from serving.live.drift import record_frame, recording
from serving.live.registry import (
    CHAMPION,
    ModelUnavailableError,
    load_python_model,
    model_readiness,
)
from serving.platform.errors import ApiError
from serving.platform.ratelimit import InProcessRateLimiter
from serving.runtime import Runtime
from serving.settings import RateLimit, ServiceSettings
from store.database import QuarantineRecord, Store

if TYPE_CHECKING:
    from models.learning.mastery import MasteryModel
    from models.learning.recommender import StudyRecommender

logger = logging.getLogger(__name__)

MASTERY_MODEL = "mastery"  # the names training registers (the registry is the hand-off)
RECOMMENDER_MODEL = "study-recommender"
CHECK_IN_DAYS = 90
CHECK_IN_REFRESH_SECONDS = 300
SNAPSHOT_REFRESH_SECONDS = 300
MIN_GROUP_SIZE = 5
HTTP_READER = "xapi-http"
HTTP_SOURCE = "POST /v1/xapi/statements"
DRIFT_CANDIDATES = 16  # candidates per suggestion request recorded for drift, at most


# --------------------------------------------------------------------------------------------
# Loading


def load_champion(tracking_uri: str, name: str) -> tuple[Any, str]:
    """The python model behind ``models:/<name>@champion``, and its version."""
    return load_python_model(tracking_uri, name)


def load_mastery(tracking_uri: str) -> tuple[MasteryModel, str]:
    from models.learning.mastery import MasteryModel

    python_model, version = load_champion(tracking_uri, MASTERY_MODEL)
    model = getattr(python_model, "mastery_model", None)
    if not isinstance(model, MasteryModel):
        raise ModelUnavailableError(f"model {MASTERY_MODEL} version {version} is not a mastery")
    return model, version


def load_recommender(tracking_uri: str) -> tuple[StudyRecommender, str]:
    from models.learning.recommender import StudyRecommender

    python_model, version = load_champion(tracking_uri, RECOMMENDER_MODEL)
    model = getattr(python_model, "recommender", None)
    if not isinstance(model, StudyRecommender):
        raise ModelUnavailableError(
            f"model {RECOMMENDER_MODEL} version {version} is not a study recommender"
        )
    return model, version


def read_study_statements(store: Store, member_keys: Sequence[str] | None = None) -> pd.DataFrame:
    """``STUDY_COLUMNS`` of the stored statements (of ``member_keys`` only, when given)."""
    sql = f"SELECT {', '.join(STUDY_COLUMNS)} FROM statements"
    if member_keys is None:
        return store.query(sql + " ORDER BY timestamp")
    marks = ", ".join("?" * len(member_keys))
    return store.query(f"{sql} WHERE member_key IN ({marks}) ORDER BY timestamp", [*member_keys])


def read_knowledge_points(store: Store) -> list[KnowledgePoint]:
    kps = store.query("SELECT kp_id, name_en, name_zh, domain FROM knowledge_points")
    return [
        KnowledgePoint(str(r.kp_id), str(r.name_en), str(r.name_zh), _text(r.domain))
        for r in kps.itertuples()
    ]


@dataclass(frozen=True)
class KnowledgePoint:
    kp_id: str
    name_en: str
    name_zh: str
    domain: str | None


class StudyData:
    """The study data the models read: the online layer's study source (the statements per
    member, ``features.online.study``) with the catalogue's knowledge points and the check-in
    flags derived from it.

    Pushes (``push``: ingestion's rows; ``add_statements``: the endpoint's) go to the source,
    which publishes a new immutable view; readers take the current view and never wait. The
    members a push gave statements are remembered twice: in ``_stale_events`` until
    ``events_of`` is next asked for them (``event_rebuilds`` counts those first reads, which
    build the member's event frame from their rows only), and in ``_undrained`` until
    ``drain`` hands them to the one consumer (``Study``, whose snapshot rows of those members
    are then out of date).
    """

    def __init__(
        self,
        online: StudySource,
        knowledge_points: Sequence[KnowledgePoint],
        mastery: MasteryModel,
    ) -> None:
        self._lock = threading.Lock()
        self.online = online
        self._undrained: set[str] = set()
        self._stale_events: set[str] = set()
        self.event_rebuilds = 0
        self._check_in_running = False
        self._check_in_stale = False
        self._mastery = mastery
        self.knowledge_points = {kp.kp_id: kp for kp in knowledge_points}
        events = online.view().learning.events()  # cached: the startup snapshot build reuses it
        self.check_in, self.check_in_window = self._detect_check_in(events)

    @classmethod
    def from_store(cls, store: Store, mastery: MasteryModel) -> StudyData:
        return cls(StudySource.from_store(store), read_knowledge_points(store), mastery)

    @property
    def kp_names(self) -> dict[str, tuple[str, str]]:
        return {kp: (v.name_en, v.name_zh) for kp, v in self.knowledge_points.items()}

    def use_mastery(self, mastery: MasteryModel) -> None:
        """Detect check-ins with ``mastery`` (a new champion) from the next refresh on."""
        with self._lock:
            self._mastery = mastery

    @property
    def learning(self) -> LearningData:
        return self.online.view().learning

    @property
    def member_keys(self) -> frozenset[str]:
        return self.online.view().member_keys

    def push(self, batch: Mapping[str, pd.DataFrame]) -> StudyPushOutcome:
        """Apply stored rows (table name → rows with the store's columns; the source takes
        ``statements`` and ignores the rest); the members given statements are marked."""
        outcome = self.online.push(batch)
        if outcome.touched:
            with self._lock:
                self._undrained.update(outcome.touched)
                self._stale_events.update(outcome.touched)
                self._check_in_stale = True
                if not self._check_in_running:
                    self._check_in_running = True
                    threading.Thread(
                        target=self._refresh_check_in, name="check-in", daemon=True
                    ).start()
        return outcome

    def add_statements(self, rows: pd.DataFrame) -> None:
        """Apply statements just stored (``STUDY_ROW_COLUMNS``)."""
        if not rows.empty:
            self.push({STATEMENTS: rows})

    def current(self) -> LearningData:
        """The data with every statement pushed so far."""
        return self.online.view().learning

    def drain(self) -> tuple[LearningData, frozenset[str]]:
        """The current data, and the members given statements since the previous ``drain``
        (one consumer: the study's snapshots). The members are taken before the view, so the
        view holds every statement of theirs."""
        with self._lock:
            touched, self._undrained = frozenset(self._undrained), set()
        return self.online.view().learning, touched

    def events_of(self, member_key: str) -> pd.DataFrame:
        """The member's event frame from the current view (built from their rows only on
        the view's first read of it)."""
        with self._lock:
            if member_key in self._stale_events:
                self._stale_events.discard(member_key)
                self.event_rebuilds += 1
        return self.online.view().events_of(member_key)

    def check_in_of(self, member_key: str) -> tuple[pd.Series | None, tuple[datetime, datetime]]:
        with self._lock:
            found = self.check_in[self.check_in["member_key"] == member_key]
            return (None if found.empty else found.iloc[0]), self.check_in_window

    def _refresh_check_in(self) -> None:
        """Recompute the check-in detection off the request path (about 10 s for 2,000
        members), at most once per ``CHECK_IN_REFRESH_SECONDS`` while statements arrive."""
        try:
            while True:
                started = time.monotonic()
                with self._lock:
                    self._check_in_stale = False
                # every member's events, built unlocked (and cached on the view's learning
                # data, which a background snapshot build of the same data reuses)
                detected, window = self._detect_check_in(self.online.view().learning.events())
                with self._lock:
                    self.check_in, self.check_in_window = detected, window
                    if not self._check_in_stale:
                        self._check_in_running = False
                        return
                time.sleep(max(0.0, CHECK_IN_REFRESH_SECONDS - (time.monotonic() - started)))
        except Exception:
            logger.exception("check-in detection failed; the previous result is kept")
            with self._lock:
                self._check_in_running = False

    def _detect_check_in(
        self, events: pd.DataFrame
    ) -> tuple[pd.DataFrame, tuple[datetime, datetime]]:
        if events.empty:
            now = _utc_now()
            return detect_check_in(events), (now - timedelta(days=CHECK_IN_DAYS), now)
        end = pd.Timestamp(events["timestamp"].max()) + pd.Timedelta(seconds=1)
        start = end - pd.Timedelta(days=CHECK_IN_DAYS)
        detected = detect_check_in(events, model=self._mastery, start=start, end=end)
        return detected, (start.to_pydatetime(), end.to_pydatetime())


def live_moment(now: datetime) -> datetime:
    """The moment the live snapshot is as of: the end of ``now``'s hour (UTC), so that every
    statement stored so far counts."""
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


class ReplayBudget:
    """The full snapshot builds that requests for past hours may start, all callers together
    (one build is seconds of CPU, taken from every other request): a token bucket; beyond it
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
    recomputed first (``Snapshot.with_members``: tens of milliseconds) and the result kept.
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
                moment = live_moment(now or _utc_now())
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
            target = live_moment(_utc_now())
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


@dataclass(frozen=True)
class LearningState:
    """The loaded models and data, or why there are none.

    ``online`` (the study source) and ``knowledge_points`` are kept without models too (the
    store is open, the registry has no champions yet): pushes keep the source current and
    ``with_models`` builds the study over it when champions come."""

    study: Study | None = None
    unavailable_reason: str | None = None
    versions: Mapping[str, str] = field(default_factory=dict)
    reasons: Mapping[str, str] = field(default_factory=dict)
    online: StudySource | None = None
    knowledge_points: Sequence[KnowledgePoint] = ()

    def push(self, frames: Mapping[str, pd.DataFrame]) -> StudyPushOutcome | None:
        """Apply stored rows (table name → rows with the store's columns; ``statements`` is
        taken, the rest ignored); None when no study data is loaded."""
        if self.study is not None:
            return self.study.data.push(frames)
        if self.online is not None:
            return self.online.push(frames)
        return None

    def with_models(
        self,
        mastery: tuple[MasteryModel, str],
        recommender: tuple[StudyRecommender, str],
        *,
        as_of_max_age: timedelta | None = None,
        replay_budget: ReplayBudget | None = None,
    ) -> LearningState:
        """A state with these champions (model, version) over the same study source: new
        check-in flags and a new live snapshot are built (seconds: call it off the request
        path), the statements are not read again. Settings not given are the current
        study's."""
        if self.online is None:
            raise RuntimeError("no study data to pair the models with")
        old = self.study
        data = StudyData(self.online, self.knowledge_points, mastery[0])
        recommender[0].attach(data.learning, kp_names=data.kp_names)
        study = Study(
            mastery=mastery[0],
            mastery_version=mastery[1],
            recommender=recommender[0],
            recommender_version=recommender[1],
            data=data,
            as_of_max_age=as_of_max_age or (old.as_of_max_age if old else timedelta(days=1830)),
            replay_budget=replay_budget or (old.replay_budget if old else None),
        )
        try:
            study.start()  # the live snapshot: the first suggestion request must not build it
        except Exception:
            logger.exception("building the study snapshot failed; the first request will")
        versions = {MASTERY_MODEL: mastery[1], RECOMMENDER_MODEL: recommender[1]}
        return LearningState(
            study=study,
            versions=versions,
            online=self.online,
            knowledge_points=self.knowledge_points,
        )

    def readiness(self) -> list[ModelReadiness]:
        return [
            model_readiness(
                name,
                self.versions.get(name) if self.study is not None else None,
                self.reasons.get(name) or self.unavailable_reason,
            )
            for name in (MASTERY_MODEL, RECOMMENDER_MODEL)
        ]


def load_learning(settings: ServiceSettings, runtime: Runtime) -> LearningState:
    """Both champions and the study data; never raises (the service starts)."""
    if runtime.store is None:
        return LearningState(unavailable_reason=runtime.not_ready_reason or "store not open")
    uri = settings.resolved_mlflow_tracking_uri
    versions: dict[str, str] = {}
    reasons: dict[str, str] = {}
    loaded: dict[str, Any] = {}
    for name, loader in ((MASTERY_MODEL, load_mastery), (RECOMMENDER_MODEL, load_recommender)):
        try:
            loaded[name], versions[name] = loader(uri)
        except ModelUnavailableError as error:
            logger.warning("study model unavailable: %s", error)
            reasons[name] = str(error)
        except Exception:
            logger.exception("loading %s@%s failed", name, CHAMPION)
            reasons[name] = f"model {name}@{CHAMPION} could not be loaded"
    with runtime.store.use() as store:
        online = StudySource.from_store(store)
        knowledge_points = read_knowledge_points(store)
    if reasons:
        return LearningState(
            unavailable_reason="; ".join(reasons.values()),
            versions=versions,
            reasons=reasons,
            online=online,
            knowledge_points=knowledge_points,
        )
    logger.info(
        "study: %s v%s and %s v%s loaded",
        MASTERY_MODEL,
        versions[MASTERY_MODEL],
        RECOMMENDER_MODEL,
        versions[RECOMMENDER_MODEL],
    )
    state = LearningState(online=online, knowledge_points=knowledge_points)
    return state.with_models(
        (loaded[MASTERY_MODEL], versions[MASTERY_MODEL]),
        (loaded[RECOMMENDER_MODEL], versions[RECOMMENDER_MODEL]),
        as_of_max_age=timedelta(days=settings.study_as_of_max_age_days),
        replay_budget=ReplayBudget(settings.study_replay_builds),
    )


# --------------------------------------------------------------------------------------------
# Helpers


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def utc_naive(moment: datetime | None) -> datetime:
    """``moment`` as naive UTC (an aware one converted), or now."""
    if moment is None:
        return _utc_now()
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _moment(value: Any) -> datetime | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).to_pydatetime()


def roster_window(members: pd.DataFrame, member_key: str, at: datetime) -> float | None:
    """Minutes of the member's next free window at ``at`` (UTC), from their roster."""
    row = members[members["member_key"] == member_key]
    if row.empty:
        return None
    pattern, crew = row.iloc[0]["shift_pattern"], row.iloc[0]["crew"]
    try:
        return float(next_free_window(str(pattern), str(crew), at + LOCAL_OFFSET)[1])
    except RosterError:
        return None


# --------------------------------------------------------------------------------------------
# Answers


def member_mastery(study: Study, employee_no: str, member_key: str, as_of: datetime) -> MasteryOut:
    """The member's profile on every KP (weakest first) and their check-in flag."""
    data = study.data
    kps = sorted(data.knowledge_points)
    events = data.events_of(member_key)
    drift = recording()
    profile = study.mastery.mastery_profile(events, kps, pd.Timestamp(as_of), with_features=drift)
    if drift:
        metadata = study.mastery.metadata_
        scores = profile["p_correct"].to_numpy(dtype=float)
        record_frame(MASTERY_MODEL, study.mastery_version, metadata, profile, scores)
    rows = []
    for record in profile.to_dict("records"):
        kp = data.knowledge_points[str(record["kp_id"])]
        rows.append(
            KpMasteryOut(
                kp_id=kp.kp_id,
                name_en=kp.name_en,
                name_zh=kp.name_zh,
                domain=kp.domain,
                p_correct=min(max(float(record["p_correct"]), 0.0), 1.0),
                attempts=int(record["attempts"]),
                last_practised=_moment(record["last_practised"]),
            )
        )
    rows.sort(key=lambda row: (row.p_correct, row.kp_id))
    detected, (start, end) = data.check_in_of(member_key)
    return MasteryOut(
        employee_no=employee_no,
        as_of=as_of,
        knowledge_points=rows,
        check_in=_check_in_out(detected, start, end),
        model=study.mastery_ref,
    )


def _check_in_out(detected: pd.Series | None, start: datetime, end: datetime) -> CheckInOut:
    if detected is None:
        return CheckInOut(
            flagged=False,
            score=None,
            logged_minutes=0.0,
            mastery_gain=None,
            successes_per_hour=None,
            reasons=[f"no study time logged in the {CHECK_IN_DAYS} days to {end:%Y-%m-%d}"],
            window_start=start,
            window_end=end,
        )
    return CheckInOut(
        flagged=bool(detected["flagged"]),
        score=_finite(detected["check_in_score"]),
        logged_minutes=float(detected["logged_minutes"]),
        mastery_gain=_finite(detected["mastery_gain"]),
        successes_per_hour=_finite(detected["successes_per_hour"]),
        reasons=[str(reason) for reason in detected["reasons"]],
        window_start=start,
        window_end=end,
    )


def recommendations(
    study: Study,
    employee_no: str,
    member_key: str,
    *,
    k: int,
    minutes: float | None,
    as_of: datetime | None,
) -> RecommendationsOut:
    """Up to ``k`` suggestions with their reasons. ``as_of`` None: now, with every statement
    stored so far (the snapshot is as of the end of the current hour)."""
    moment = utc_naive(as_of)
    if as_of is not None:
        check_as_of(moment, _utc_now(), study.as_of_max_age)
    snapshot = study.snapshot_for(member_key, None if as_of is None else moment)
    source = "request"
    if minutes is None:
        minutes = roster_window(snapshot.members, member_key, moment)
        source = "roster" if minutes is not None else "none"
    suggestions = study.recommender.recommend(
        member_key,
        k=k,
        minutes=minutes,
        context=snapshot,
        on_scored=_drift_recorder(study) if recording() else None,
    )
    items = [
        SuggestionOut(
            rank=rank,
            content_id=s.content_id,
            title=s.title,
            format=s.format,
            minutes=s.minutes,
            knowledge_points=list(s.knowledge_points),
            score=s.score,
            reasons=[
                ReasonOut(
                    kind=str(r.get("kind")),
                    kp_id=r.get("kp_id"),
                    text_en=str(r.get("text_en")),
                    text_zh=str(r.get("text_zh")),
                )
                for r in s.reasons
            ],
        )
        for rank, s in enumerate(suggestions[:k], 1)
    ]
    return RecommendationsOut(
        employee_no=employee_no,
        as_of=moment,
        k=k,
        minutes=minutes,
        minutes_source=source,  # type: ignore[arg-type]
        items=items,
        model=study.recommender_ref,
        mastery_model=study.mastery_ref,
    )


def _drift_recorder(study: Study) -> Callable[[pd.DataFrame, npt.NDArray[np.float64]], None]:
    """Records at most ``DRIFT_CANDIDATES`` of a request's candidates (evenly spaced over the
    candidate frame, whose order is the items', not the scores') with the ranker's raw
    scores: the cost per request stays a few hundred values whatever the candidate count."""

    def record(features: pd.DataFrame, raw: npt.NDArray[np.float64]) -> None:
        if not len(raw):
            return
        chosen = np.unique(np.linspace(0, len(raw) - 1, DRIFT_CANDIDATES).astype(np.intp))
        metadata = study.recommender.metadata_
        sample = features.iloc[chosen]
        record_frame(RECOMMENDER_MODEL, study.recommender_version, metadata, sample, raw[chosen])

    return record


def branch_mastery(study: Study, member_keys: Iterable[str], as_of: datetime) -> BranchMasteryOut:
    """Counts, mean mastery per KP domain and the check-in share of the branch's members;
    nothing when the branch has fewer than ``MIN_GROUP_SIZE`` members."""
    keys = sorted(set(member_keys))
    if len(keys) < MIN_GROUP_SIZE:
        return BranchMasteryOut(
            as_of=as_of,
            min_group_size=MIN_GROUP_SIZE,
            suppressed=True,
            members=None,
            members_with_study=None,
            check_in_flagged=None,
            check_in_share=None,
            domains=[],
            model=study.mastery_ref,
        )
    data = study.data
    data.current()
    events = pd.concat([data.events_of(key) for key in keys], ignore_index=True)
    kps = sorted(data.knowledge_points)
    profiles = study.mastery.mastery_profiles(events, kps, pd.Timestamp(as_of), members=keys)
    domain = profiles["kp_id"].map(lambda kp: data.knowledge_points[kp].domain or "other")
    by_domain = profiles.assign(domain=domain).groupby("domain")
    domains = [
        DomainMasteryOut(
            domain=str(name),
            knowledge_points=int(group["kp_id"].nunique()),
            mean_p_correct=float(np.clip(group["p_correct"].mean(), 0.0, 1.0)),
        )
        for name, group in by_domain
    ]
    check_in = data.check_in[data.check_in["member_key"].isin(keys)]
    with_study = len(check_in)
    flagged = int(check_in["flagged"].astype(bool).sum())
    return BranchMasteryOut(
        as_of=as_of,
        min_group_size=MIN_GROUP_SIZE,
        suppressed=False,
        members=len(keys),
        members_with_study=with_study,
        check_in_flagged=flagged,
        check_in_share=flagged / with_study if with_study else None,
        domains=domains,
        model=study.mastery_ref,
    )


# --------------------------------------------------------------------------------------------
# Posted statements


class ActorNotAllowedError(PermissionError):
    """A member posted a statement about someone else."""


@dataclass
class StatementConflict:
    index: int
    statement_id: str


@dataclass
class PostedBatch:
    """The outcome of a posted batch, in the posted order."""

    statement_ids: list[str | None]  # None where the statement was rejected
    rejected: list[RejectedStatementOut]
    conflicts: list[StatementConflict]
    new_rows: pd.DataFrame  # stored now (not before), STUDY_ROW_COLUMNS

    @property
    def stored_ids(self) -> list[str]:
        return [sid for sid in self.statement_ids if sid is not None]


def parse_batch(
    statements: Sequence[Any], personal: PersonalData, *, only_member: str | None
) -> tuple[list[dict[str, Any] | None], list[RejectedStatementOut]]:
    """Each statement's row (None when invalid) and the rejections. ``only_member``: the
    member key every valid statement's actor must have (``ActorNotAllowedError``)."""
    rows: list[dict[str, Any] | None] = []
    rejected: list[RejectedStatementOut] = []
    for index, statement in enumerate(statements):
        try:
            if any(True for _ in lone_surrogate_paths(statement)):
                raise RecordError("a string holds a lone UTF-16 surrogate (not a character)")
            row = parse_statement(statement, personal)
        except RecordError as error:
            own_id = statement.get("id") if isinstance(statement, dict) else None
            shown = isinstance(own_id, str) and not has_lone_surrogate(own_id)
            rejected.append(
                RejectedStatementOut(
                    index=index,
                    statement_id=str(own_id)[:64] if shown else None,
                    reason=str(error),
                )
            )
            rows.append(None)
            continue
        if only_member is not None and row["member_key"] != only_member:
            raise ActorNotAllowedError(f"statement {index}: members may post only their own")
        rows.append(row)
    return rows, rejected


_COMPARED = tuple(name for name in STATEMENT_COLUMNS if name != "statement_id")


def _same(stored: Mapping[str, Any], posted: Mapping[str, Any]) -> bool:
    for name in _COMPARED:
        left, right = stored.get(name), posted.get(name)
        if name == "knowledge_points":
            left = list(left) if left is not None else None
            right = list(right) if right is not None else None
        elif isinstance(left, float) or isinstance(right, float):
            if left is None or right is None or pd.isna(left) or pd.isna(right):
                if not (_missing(left) and _missing(right)):
                    return False
                continue
            if not math.isclose(float(left), float(right), rel_tol=1e-12, abs_tol=1e-12):
                return False
            continue
        elif name == "timestamp" and left is not None and right is not None:
            left, right = pd.Timestamp(left), pd.Timestamp(right)
        if _missing(left) and _missing(right):
            continue
        if left != right:
            return False
    return True


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def store_batch(
    store: Store,
    personal: PersonalData,
    statements: Sequence[Any],
    rows: Sequence[dict[str, Any] | None],
    rejected: Sequence[RejectedStatementOut],
) -> PostedBatch:
    """Store the valid rows (new ids only) and quarantine the rejected statements, in one
    transaction; the caller holds the store lock. A posted id already stored (or repeated in
    the batch) with other content is a conflict: then nothing is stored."""
    valid = [(i, row) for i, row in enumerate(rows) if row is not None]
    ids = sorted({str(row["statement_id"]) for _, row in valid})
    stored = (
        store.query(
            f"SELECT {', '.join(STATEMENT_COLUMNS)} FROM statements WHERE statement_id IN "
            f"({', '.join('?' * len(ids))})",
            [*ids],
        )
        if ids
        else pd.DataFrame(columns=list(STATEMENT_COLUMNS))
    )
    known: dict[str, Mapping[str, Any]] = {
        str(r["statement_id"]): {str(name): value for name, value in r.items()}
        for r in stored.to_dict("records")
    }
    conflicts: list[StatementConflict] = []
    fresh: dict[str, tuple[int, dict[str, Any]]] = {}
    for index, row in valid:
        sid = str(row["statement_id"])
        earlier = known.get(sid)
        if earlier is None and sid in fresh:
            earlier = fresh[sid][1]
        if earlier is not None:
            if not _same(earlier, row):
                conflicts.append(StatementConflict(index, sid))
            continue
        fresh[sid] = (index, row)
    statement_ids: list[str | None] = [
        None if row is None else str(row["statement_id"]) for row in rows
    ]
    if conflicts:
        return PostedBatch(statement_ids, list(rejected), conflicts, _empty_rows())
    now = _utc_now()
    frame = pd.DataFrame([row for _, row in fresh.values()], columns=list(STATEMENT_COLUMNS))
    if not frame.empty:
        frame["knowledge_points"] = frame["knowledge_points"].map(
            lambda kps: None if kps is None else list(kps)
        )
        frame["source_file"] = HTTP_SOURCE
        frame["source_line"] = [index + 1 for index, _ in fresh.values()]
        frame["ingested_at"] = now
    quarantined = _quarantine_records(statements, rejected)
    with store.transaction():
        if not frame.empty:
            store.insert_new("statements", frame)
        store.quarantine(quarantined, personal.cipher)
    new_rows = frame[list(STUDY_ROW_COLUMNS)] if not frame.empty else _empty_rows()
    return PostedBatch(statement_ids, list(rejected), [], new_rows)


def _empty_rows() -> pd.DataFrame:
    return pd.DataFrame(columns=list(STUDY_ROW_COLUMNS))


def _statement_text(statement: Any) -> str:
    """The statement as JSON text; one holding a lone surrogate (no UTF-8 form) escaped."""
    text = json.dumps(statement, sort_keys=True, ensure_ascii=False)
    if has_lone_surrogate(text):
        return json.dumps(statement, sort_keys=True, ensure_ascii=True)
    return text


def _quarantine_records(
    statements: Sequence[Any], rejected: Sequence[RejectedStatementOut]
) -> list[QuarantineRecord]:
    """One record per rejected statement, keyed by the batch's hash and the 1-based index
    (re-posting the same batch quarantines nothing twice)."""
    if not rejected:
        return []
    texts = [_statement_text(s) for s in statements]
    batch_sha = hashlib.sha256("\n".join(texts).encode()).hexdigest()
    return [
        QuarantineRecord(
            reader=HTTP_READER,
            source_file=HTTP_SOURCE,
            source_sha256=batch_sha,
            source_line=item.index + 1,
            reason=item.reason,
            record=texts[item.index],
        )
        for item in rejected
    ]
