"""The study source of the online layer: the stored xAPI statements the study models read,
per member, kept current by pushed ``statements`` rows.

What a push holds. Table ``statements``: rows with at least ``STUDY_ROW_COLUMNS`` (the store's
columns; others are ignored). A statement is immutable and keyed by ``statement_id``: a row
whose id the view holds changes nothing (idempotent), whatever it says. The entity is the
member (``member_key``, the HMAC pseudonym: no name or employee number ever enters the view);
a push replaces the per-member part of every member it names.

Point in time. A member's rows are kept in time order (ties by statement id), so their event
frame (``build_events``: the mastery model's input, and the check-in detector's) is the same
whatever order the statements arrived in, and equals that of a full build on the same rows;
every feature as of ``t`` reads only events before ``t`` (``features.learning``).

The population-wide state built from the statements (the recommender's snapshot, the check-in
flags) is derived from ``StudyView.learning``: ``StudyData`` keeps the check-in flags, and the
service's snapshots (``serving.jobs.learning_study``) learn from each push's ``touched``
members whose rows to recompute.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from features.learning.checkin import MasteryModel, detect_check_in
from features.learning.data import CONTENT_COLUMNS, MEMBER_ROSTER_COLUMNS, LearningData
from features.learning.kt_features import EVENT_COLUMNS, TIMESTAMP, build_events
from features.online.source import Published, PushOutcome
from store.database import StoreReader
from store.queries import learning as queries

logger = logging.getLogger(__name__)

STUDY_SOURCE = "study"
STATEMENTS = "statements"
MEMBERS = "members"
CONTENT = "content"
MEMBER = "member_key"
STATEMENT_ID = "statement_id"
# What the view keeps of each statement: LearningData's and build_events' columns, and the key.
STUDY_COLUMNS = (
    "member_key",
    "verb",
    "object_id",
    "content_id",
    "knowledge_points",
    "success",
    "duration_seconds",
    "item_difficulty",
    "timestamp",
)
STUDY_ROW_COLUMNS = (STATEMENT_ID, *STUDY_COLUMNS)
CHECK_IN_DAYS = 90
CHECK_IN_REFRESH_SECONDS = 300
MAX_CHUNKS = 64  # Arrow chunks a merged statement column may have before it is compacted


def no_events() -> pd.DataFrame:
    """An empty event frame (a member without events gets the cold-start profile)."""
    return pd.DataFrame(
        {
            name: pd.Series(dtype="datetime64[ns]" if name == TIMESTAMP else object)
            for name in EVENT_COLUMNS
        }
    )


def nullable_bool(values: pd.Series) -> pd.Series:
    """True/False/missing as pandas' nullable boolean, whatever mix of None, NaN, pd.NA,
    Python and numpy booleans ``values`` holds."""
    missing = values.isna().to_numpy()
    known = values.where(~missing, False).astype(bool).to_numpy()
    return pd.Series(pd.arrays.BooleanArray(known, missing), index=values.index)


def _study_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """``STUDY_ROW_COLUMNS`` of ``rows`` as ``LearningData`` reads them: one dtype for success
    (1.0, 0.0, NaN: the store's nullable booleans and posted True/False/None alike),
    timestamps as datetimes, the content id where the object id is missing."""
    frame = rows[list(STUDY_ROW_COLUMNS)].copy()
    frame["success"] = nullable_bool(frame["success"]).astype("float64")
    frame[TIMESTAMP] = pd.to_datetime(frame[TIMESTAMP])
    no_object = frame["object_id"].isna()
    if no_object.any():  # as LearningData reads them: the content id stands in
        frame.loc[no_object, "object_id"] = frame.loc[no_object, "content_id"]
    frame[STATEMENT_ID] = frame[STATEMENT_ID].astype(str)
    frame[MEMBER] = frame[MEMBER].astype(str)
    return frame


def _in_order(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values([TIMESTAMP, STATEMENT_ID], kind="stable").reset_index(drop=True)


def _compacted(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its Arrow-backed columns in one chunk each once one has more than
    ``MAX_CHUNKS``: every push appends a chunk, and selecting rows among hundreds of
    thousands slows down with thousands of chunks."""
    compacted = frame
    for name in frame.columns:
        values = frame[name].array
        if not isinstance(values, pd.arrays.ArrowExtensionArray):
            continue
        arrow = pa.array(values)
        if isinstance(arrow, pa.ChunkedArray) and arrow.num_chunks > MAX_CHUNKS:
            if compacted is frame:
                compacted = frame.copy(deep=False)
            compacted[name] = pd.array(arrow.combine_chunks(), dtype=values.dtype)
    return compacted


@dataclass(frozen=True, eq=False)
class StudyView:
    """The statements as of one push: immutable (frames handed out are never mutated).

    ``member_rows``: member key -> their rows (``STUDY_ROW_COLUMNS``) in time order (ties
    by statement id); ``content`` and ``members`` (roster fields and pseudonyms only) as
    ``LearningData`` reads them. ``statements`` and ``learning`` put every member's rows one
    after another (members in key order), so the full event frame of ``learning`` holds each
    member's events in the order ``events_of`` does. Those two and ``events_of`` are built on
    first use and kept (a cache: it never changes what is read); a push keeps the event
    frames of the members it did not touch."""

    member_rows: Mapping[str, pd.DataFrame]
    content: pd.DataFrame
    members: pd.DataFrame
    _events: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    _learning: list[LearningData] = field(default_factory=list, repr=False)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def statements(self) -> pd.DataFrame:
        """Every row (``STUDY_ROW_COLUMNS``), member after member."""
        return self.learning.statements

    @property
    def learning(self) -> LearningData:
        """Every statement, the content and the members as ``LearningData`` (built once)."""
        with self._cache_lock:
            if not self._learning:
                self._learning.append(LearningData(self._all_rows(), self.content, self.members))
            return self._learning[0]

    def _all_rows(self) -> pd.DataFrame:
        frames = [self.member_rows[key] for key in sorted(self.member_rows)]
        if not frames:
            return pd.DataFrame(columns=list(STUDY_ROW_COLUMNS))
        return _compacted(pd.concat(frames, ignore_index=True))

    @property
    def member_keys(self) -> frozenset[str]:
        return frozenset(self.members[MEMBER].astype(str))

    def events_of(self, member_key: str) -> pd.DataFrame:
        """The member's event frame (``EVENT_COLUMNS``, time order); empty without events."""
        with self._cache_lock:
            found = self._events.get(member_key)
        if found is not None:
            return found
        rows = self.member_rows.get(member_key)
        built = no_events() if rows is None else build_events(rows[list(STUDY_COLUMNS)])
        if built.empty:
            built = no_events()
        with self._cache_lock:
            self._events[member_key] = built
        return built

    def events(self) -> pd.DataFrame:
        """Every member's event frame, one after another (members in key order)."""
        frames = [self.events_of(key) for key in sorted(self.member_rows)]
        frames = [frame for frame in frames if not frame.empty]
        return pd.concat(frames, ignore_index=True) if frames else no_events()

    def updated(self, rows: pd.DataFrame) -> tuple[StudyView, tuple[str, ...], int]:
        """The view with ``rows`` (study rows) added, the members they added statements to,
        and how many rows it already held."""
        rows = rows.drop_duplicates(STATEMENT_ID, keep="first")
        known = np.zeros(len(rows), dtype=bool)
        held_ids: dict[str, set[str]] = {}
        for position, (member, sid) in enumerate(
            zip(rows[MEMBER], rows[STATEMENT_ID], strict=True)
        ):
            if member not in held_ids:
                held = self.member_rows.get(member)
                held_ids[member] = set() if held is None else set(held[STATEMENT_ID])
            known[position] = sid in held_ids[member]
        fresh = rows[~known]
        if fresh.empty:
            return self, (), int(known.sum())
        member_rows = dict(self.member_rows)
        touched = tuple(sorted(set(fresh[MEMBER])))
        for member, part in fresh.groupby(MEMBER, sort=False):
            before = member_rows.get(str(member))
            merged = part if before is None else pd.concat([before, part], ignore_index=True)
            member_rows[str(member)] = _in_order(merged)
        with self._cache_lock:
            events = {k: v for k, v in self._events.items() if k not in set(touched)}
        view = StudyView(member_rows, self.content, self.members, events)
        return view, touched, int(known.sum())

    def with_reference(
        self, members: pd.DataFrame | None, content: pd.DataFrame | None
    ) -> StudyView:
        """The view with member and content rows replaced by key (no statement changes, so
        the event frames are kept); this very view when they say what it holds."""
        new_members = _upserted(self.members, members, MEMBER)
        new_content = _upserted(self.content, content, "content_id")
        if new_members.equals(self.members) and new_content.equals(self.content):
            return self
        with self._cache_lock:
            events = dict(self._events)
        return StudyView(self.member_rows, new_content, new_members, events)

    @classmethod
    def build(
        cls, statements: pd.DataFrame, content: pd.DataFrame, members: pd.DataFrame
    ) -> StudyView:
        """A full build from stored rows (``STUDY_ROW_COLUMNS`` of ``statements``)."""
        rows = _study_rows(statements).drop_duplicates(STATEMENT_ID, keep="first")
        member_rows = {
            str(member): _in_order(part) for member, part in rows.groupby(MEMBER, sort=False)
        }
        return cls(member_rows, content, members)


@dataclass(frozen=True)
class StudyPushOutcome(PushOutcome):
    """A study push's outcome (``new``: the member keys given statements) and the view."""

    view: StudyView | None = None


class StudySource:
    """The statements behind the online layer's read/write interface.

    ``view()`` is the current ``StudyView``; ``push(batch)`` adds the ``statements`` rows the
    view does not hold yet and returns the members they belong to (whose mastery inputs and
    snapshot rows are to be recomputed)."""

    name = STUDY_SOURCE
    tables = frozenset({STATEMENTS, MEMBERS, CONTENT})

    def __init__(self, view: StudyView) -> None:
        self._published = Published(view)

    @classmethod
    def from_store(cls, store: StoreReader) -> StudySource:
        """Statements, content and members as ``LearningData.from_store`` reads them (no
        personal column but the member pseudonym)."""
        return cls(
            StudyView.build(
                queries.study_statements(store, STUDY_ROW_COLUMNS),
                queries.catalogue_content(store, CONTENT_COLUMNS),
                queries.roster_members(store, MEMBER_ROSTER_COLUMNS),
            )
        )

    @property
    def version(self) -> int:
        return self._published.version

    def view(self) -> StudyView:
        return self._published.current

    def push(self, batch: Mapping[str, pd.DataFrame]) -> StudyPushOutcome:
        """Add new statements; members and content rows replace those of their key (roster
        fields and the catalogue: not point in time, as in a full build)."""
        started = time.perf_counter()
        mine = {t: f for t, f in batch.items() if t in self.tables and not f.empty}
        rows_in = sum(len(frame) for frame in mine.values())
        ignored = sum(
            len(frame)
            for table, frame in mine.items()
            if not set(_COLUMNS[table]) <= set(frame.columns)
        )
        usable = {t: f for t, f in mine.items() if set(_COLUMNS[t]) <= set(f.columns)}
        touched: tuple[str, ...] = ()
        unchanged = 0
        with self._published.lock:
            current = view = self._published.current
            if STATEMENTS in usable:
                view, touched, unchanged = view.updated(_study_rows(usable[STATEMENTS]))
            if MEMBERS in usable or CONTENT in usable:
                view = view.with_reference(usable.get(MEMBERS), usable.get(CONTENT))
            if view is not current:
                self._published.publish(view)
            version = self._published.version
        return StudyPushOutcome(
            source=self.name,
            new=touched,
            unchanged=unchanged,
            rows_in=rows_in,
            ignored_rows=ignored,
            version=version,
            pushed_at=started,
            seconds=time.perf_counter() - started,
            view=view,
        )


_COLUMNS = {STATEMENTS: STUDY_ROW_COLUMNS, MEMBERS: MEMBER_ROSTER_COLUMNS, CONTENT: CONTENT_COLUMNS}


def _upserted(held: pd.DataFrame, rows: pd.DataFrame | None, key: str) -> pd.DataFrame:
    """``held`` with ``rows`` (its columns) replacing those of their key, in key order."""
    if rows is None:
        return held
    fresh = rows[list(held.columns)].drop_duplicates(key, keep="last")
    kept = held[~held[key].astype(str).isin(set(fresh[key].astype(str)))]
    merged = pd.concat([kept, fresh], ignore_index=True)
    return merged.sort_values(key, kind="stable").reset_index(drop=True)


def read_knowledge_points(store: StoreReader) -> list[KnowledgePoint]:
    kps = queries.knowledge_points(store)
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
    """The study data the models read: the study source (the statements per member) with the
    catalogue's knowledge points and the check-in flags derived from it.

    Pushes (``push``: ingestion's rows; ``add_statements``: the endpoint's) go to the source,
    which publishes a new immutable view; readers take the current view and never wait. The
    members a push gave statements are remembered twice: in ``_stale_events`` until
    ``events_of`` is next asked for them (``event_rebuilds`` counts those first reads, which
    build the member's event frame from their rows only), and in ``_undrained`` until
    ``drain`` hands them to the one consumer (the service's snapshots, whose rows of those
    members are then out of date).

    Check-in: ``features.learning.checkin.detect_check_in`` with the mastery model over the
    ``CHECK_IN_DAYS`` up to the latest statement (judged against every member with study time
    in that window: a relative flag). Computed at construction and, after a push, in a
    background thread at most once per ``CHECK_IN_REFRESH_SECONDS`` (too slow for a
    request): until then the previous flags are shown.
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
    def from_store(cls, store: StoreReader, mastery: MasteryModel) -> StudyData:
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
        """Recompute the check-in detection off the request path, at most once per
        ``CHECK_IN_REFRESH_SECONDS`` while statements arrive."""
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


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)
