"""The three frames the study models read (statements, content, members), from the store
or built by hand, validated at the boundary.

Statements are UTC; ``LOCAL_OFFSET`` turns them into the rosters' wall time
(Asia/Shanghai). No personal column is read but the member pseudonym.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from features.learning.kt_features import (
    ORDER,
    TIMESTAMP,
    build_events,
    sort_events,
)
from features.learning.statements import (
    as_list,
    compact_statements,
    concat_compact,
    read_statements,
)
from store.database import StoreReader
from store.queries import learning as queries

MEMBER_KEY, CONTENT_ID, KP_ID = "member_key", "content_id", "kp_id"
FORMATS: tuple[str, ...] = ("video", "article", "case", "quiz", "live")
LOCAL_OFFSET = timedelta(hours=8)  # statements are UTC; rosters are Asia/Shanghai wall time

STATEMENT_COLUMNS = (
    MEMBER_KEY,
    "verb",
    CONTENT_ID,
    "knowledge_points",
    "success",
    "duration_seconds",
    "timestamp",
)
CONTENT_COLUMNS = (
    CONTENT_ID,
    "title",
    "knowledge_points",
    "format",
    "minutes",
    "difficulty",
    "mandatory_month",
    "published_on",
)
OPTIONAL_STATEMENT_COLUMNS = ("object_id", "item_difficulty")  # defaults: content id, NaN
MEMBER_ROSTER_COLUMNS = (MEMBER_KEY, "role", "shift_pattern", "crew", "joined_on")
"""The members' columns the study models read: the pseudonym and the roster fields."""


class OutsideMembers:
    """The members whose statements a ``LearningData`` does not hold, as aggregates over
    the store (``store.queries.learning``): their launched and completed items, their
    launches in a window, their study minutes. A training run that works on samples of
    members holds those samples' statements only and reads the population figures of
    everyone else (``Snapshot.build``: popularity, item users, co-occurrence and EASE counts,
    format shares, engagement, the check-in threshold) from here; the store must stay open
    while it is used. ``held``: the members whose statements are held (left out here);
    ``until``: statements at or after it are not counted (``LearningData.before``)."""

    def __init__(
        self, store: StoreReader, held: Sequence[str], until: pd.Timestamp | None = None
    ) -> None:
        self.store = store
        self.held = sorted({str(key) for key in held})
        self.until = None if until is None else pd.Timestamp(until)
        self._pairs: tuple[pd.Timestamp, pd.DataFrame] | None = None

    def cut(self, moment: pd.Timestamp | datetime) -> OutsideMembers:
        """The same members with nothing at or after ``moment`` counted."""
        moment = pd.Timestamp(moment)
        until = moment if self.until is None else min(self.until, moment)
        return OutsideMembers(self.store, self.held, until)

    def _end(self, end: pd.Timestamp | datetime) -> pd.Timestamp:
        end = pd.Timestamp(end)
        return end if self.until is None else min(self.until, end)

    def newest(self) -> pd.Timestamp | None:
        """The time of the newest stored statement of anyone (held or not; None: none)."""
        return queries.newest_statement_time(self.store)

    def launch_pairs(self, as_of: pd.Timestamp | datetime) -> pd.DataFrame:
        """``member_key, content_id, last_launch, completed`` of their (member, item) pairs
        with a launch or completion before ``as_of`` (``queries.launch_pairs``; the last
        moment's answer is kept)."""
        end = self._end(as_of)
        if self._pairs is None or self._pairs[0] != end:
            self._pairs = (end, queries.launch_pairs(self.store, end, excluded=self.held))
        return self._pairs[1]

    def launched_between(
        self, start: pd.Timestamp | datetime, end: pd.Timestamp | datetime
    ) -> pd.DataFrame:
        """``member_key, content_id``: their pairs with a launch in ``[start, end)``."""
        return queries.launched_between(
            self.store, pd.Timestamp(start), self._end(end), excluded=self.held
        )

    def study_minutes(
        self, start: pd.Timestamp | datetime, end: pd.Timestamp | datetime
    ) -> pd.DataFrame:
        """``member_key, logged_minutes``: their study minutes in ``[start, end)``."""
        return queries.study_minutes(
            self.store, pd.Timestamp(start), self._end(end), excluded=self.held
        )


class LearningDataError(ValueError):
    """A frame lacks a column the recommender needs."""


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise LearningDataError(f"{name} lacks column(s) {missing}")


@dataclass
class LearningData:
    """Statements (UTC timestamps), content and members, as the store holds them.

    The statements are held compact (``features.learning.statements``): the text columns as
    categoricals with sorted categories, each row's ``knowledge_points`` a tuple shared by
    every statement of the same KP set; ``from_store`` reads them a batch at a time.

    ``statements`` may also carry ``object_id`` (the question or activity IRI) and
    ``item_difficulty`` (``OPTIONAL_STATEMENT_COLUMNS``, read by the mastery model); without
    them the content id and NaN stand in.

    ``outside``: when the statements are those of some members only (``from_store`` with
    ``members``), the other members' aggregates (``OutsideMembers``); the members frame
    always holds every member."""

    statements: pd.DataFrame
    content: pd.DataFrame
    members: pd.DataFrame
    outside: OutsideMembers | None = field(default=None, repr=False, compare=False)
    _events: pd.DataFrame | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _require(self.statements, STATEMENT_COLUMNS, "statements")
        _require(self.content, CONTENT_COLUMNS, "content")
        _require(self.members, MEMBER_ROSTER_COLUMNS, "members")
        # copy-on-write (pandas 3): columns set below never reach the caller's frame, and a
        # deep copy of every statement would cost each merge of posted ones
        self.statements = self.statements.copy(deep=False)
        self.statements["timestamp"] = pd.to_datetime(self.statements["timestamp"])
        # True / False / missing as 1.0 / 0.0 / NaN, whatever the source's nullable dtype
        # (floats, as an earlier LearningData left them, without a detour through objects)
        success = self.statements["success"]
        if success.dtype == np.float64:
            values = success.to_numpy()
            missing = np.isnan(values)
            right = (values != 0).astype(float)
        else:
            raw = success.astype(object)
            missing = raw.isna().to_numpy()
            right = raw.where(~missing, False).astype(bool).to_numpy(dtype=float)
        self.statements["success"] = np.where(missing, np.nan, right)
        if "object_id" not in self.statements.columns:
            self.statements["object_id"] = self.statements[CONTENT_ID]
        if "item_difficulty" not in self.statements.columns:
            self.statements["item_difficulty"] = np.nan
        self.statements = compact_statements(self.statements)
        self.content = self.content.copy()
        self.content["published_on"] = pd.to_datetime(self.content["published_on"])
        self.content["knowledge_points"] = self.content["knowledge_points"].map(as_list)
        self.members = self.members.copy()
        self.members["joined_on"] = pd.to_datetime(self.members["joined_on"])

    @classmethod
    def from_store(cls, store: StoreReader, members: Sequence[str] | None = None) -> LearningData:
        """Read the three tables (no personal columns: only pseudonyms and roster fields).
        ``members``: the statements of those members only; every other member's figures
        are then read from ``store`` as aggregates when needed (``outside``; keep the store
        open while the data is used)."""
        columns = (*STATEMENT_COLUMNS, *OPTIONAL_STATEMENT_COLUMNS)
        return cls(
            statements=read_statements(store, columns, members=members),
            content=queries.catalogue_content(store, CONTENT_COLUMNS),
            members=queries.roster_members(store, MEMBER_ROSTER_COLUMNS),
            outside=None if members is None else OutsideMembers(store, members),
        )

    @classmethod
    def _checked(
        cls,
        statements: pd.DataFrame,
        content: pd.DataFrame,
        members: pd.DataFrame,
        events: pd.DataFrame | None,
        outside: OutsideMembers | None = None,
    ) -> LearningData:
        """Frames already through ``__post_init__`` (parts of a ``LearningData``), joined
        without going through it again: nothing is re-validated, re-typed or re-compacted."""
        out = object.__new__(cls)
        out.statements, out.content, out.members, out._events = (
            statements,
            content,
            members,
            events,
        )
        out.outside = outside
        return out

    def with_statements(self, extra: pd.DataFrame) -> LearningData:
        """A copy with ``extra`` statements appended (the simulation's study sessions). Only
        ``extra`` goes through ``__post_init__``; the statements held are joined to it as
        they are (``concat_compact``), and a cached event frame is extended, not rebuilt."""
        columns = [*STATEMENT_COLUMNS, *(c for c in OPTIONAL_STATEMENT_COLUMNS if c in extra)]
        added = LearningData(extra[columns], self.content, self.members).statements
        added = added[list(self.statements.columns)]
        # concat_compact drops each part's columns as it joins them: shallow copies
        combined = concat_compact([self.statements.copy(deep=False), added.copy(deep=False)])
        events = None
        if self._events is not None:  # extend the event frame instead of rebuilding it
            new_events = build_events(added)
            new_events[ORDER] = new_events[ORDER] + len(self.statements)
            events = sort_events(pd.concat([self._events, new_events], ignore_index=True))
        return LearningData._checked(combined, self.content, self.members, events, self.outside)

    def before(self, moment: pd.Timestamp | datetime) -> LearningData:
        """The statements (and a cached event frame) strictly before ``moment``; the frames
        themselves when nothing is at or after it (no copy)."""
        cut = pd.Timestamp(moment)
        keep = (self.statements["timestamp"] < cut).to_numpy()
        outside = None if self.outside is None else self.outside.cut(cut)
        if keep.all() and outside is None:
            return self
        if keep.all():
            return LearningData._checked(
                self.statements, self.content, self.members, self._events, outside
            )
        events = None
        if self._events is not None:
            events = self._events[(self._events[TIMESTAMP] < cut).to_numpy()]
        statements = self.statements[keep].reset_index(drop=True)
        return LearningData._checked(statements, self.content, self.members, events, outside)

    def events(self) -> pd.DataFrame:
        """The knowledge-tracing event frame of all statements (``build_events``; cached)."""
        if self._events is None:
            self._events = build_events(self.statements)
        return self._events
