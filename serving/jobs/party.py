"""Party-work service logic: a branch's meeting plan with names and reasons, and the monthly
assessment of every branch with the officer's own rows picked out.

The store is read through ``store.queries.party``; names are decrypted only for the officer's
own branch's members who cannot make a slot (the officer has to tell them). The assessment is
computed over all branches, because the group median needs them, and only the caller's branch
leaves this module; every figure of a group under five is None (``features.party.assessment``).

``AssessmentCache`` keeps the all-branch frame per window of months, so a second officer (or
the same one again) does not recompute it. It is dropped when new data lands: ingestion calls
its ``push`` with every committed chunk (``app.state.online_push``), and each read also
compares the row counts of the tables the assessment reads
(``store.queries.party.assessment_row_counts``), which catches what does not come through
ingestion (reports submitted or moved through the API, a training run's judgements).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd

from core.security import PersonalData
from features.party.assessment import (
    FIGURES,
    MIN_GROUP_SIZE,
    assessment_csv,
    branch_assessment,
    month_ends,
)
from features.party.meetings import MeetingPlan, MeetingRules, Member, Slot, explain, plan_meetings
from serving.api.schemas.party import (
    AbsentMemberOut,
    AssessmentMonthOut,
    AssessmentOut,
    MeetingSlotsOut,
    SlotOut,
)
from store.database import StoreReader
from store.queries import feedback as feedback_queries
from store.queries import party as queries


def meeting_slots(
    store: StoreReader,
    personal: PersonalData,
    branch_key: str,
    start: date,
    end: date,
    rules: MeetingRules,
) -> MeetingSlotsOut:
    """The plan for the branch's members who had joined by ``end``."""
    rosters = queries.branch_rosters(store, branch_key)
    joined = pd.to_datetime(rosters["joined_on"])
    rosters = rosters[(joined.isna() | (joined.dt.date <= end)).to_numpy()]
    members = [
        Member(str(row.member_key), _text(row.shift_pattern), _text(row.crew))
        for row in rosters.itertuples(index=False)
    ]
    plan = plan_meetings(members, start, end, rules)
    cipher = personal.cipher
    who = {
        str(row.member_key): (
            cipher.decrypt(_blob(row.employee_no_enc), column="employee_no_enc") or "",
            cipher.decrypt(_blob(row.name_enc), column="name_enc"),
        )
        for row in rosters.itertuples(index=False)
    }
    reasons = explain(plan)
    return MeetingSlotsOut(
        period_start=start,
        period_end=end,
        members=plan.members,
        main=_slot_out(plan.main, who),
        catch_up=_slot_out(plan.catch_up, who),
        catch_up_covers=len(plan.catch_up_covers),
        online=[who[key][0] for key in plan.online],
        uncovered=[who[key][0] for key in plan.uncovered],
        covered_share=_covered(plan),
        reasons_en=reasons["en"],
        reasons_zh=reasons["zh"],
    )


def _covered(plan: MeetingPlan) -> float:
    return plan.covered_share if plan.main is not None else 0.0


def _blob(value: object) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(f"expected a ciphertext, got {type(value).__name__}")
    return bytes(value)


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _slot_out(slot: Slot | None, who: dict[str, tuple[str, str | None]]) -> SlotOut | None:
    if slot is None:
        return None
    return SlotOut(
        starts_at=slot.starts_at,
        minutes=slot.minutes,
        attendees=len(slot.attendees),
        absent=[
            AbsentMemberOut(employee_no=who[key][0], name=who[key][1], reason=slot.reasons[key])  # type: ignore[arg-type]
            for key in slot.absent
        ],
    )


def recent_months(as_of: date, count: int) -> list[str]:
    """The ``count`` months up to and including ``as_of``'s, oldest first."""
    last = pd.Period(as_of, freq="M")
    return [str(last - i) for i in range(count - 1, -1, -1)]


def assess_all(
    store: StoreReader, months: list[str], feedback: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The assessment of every branch for ``months`` (see ``branch_assessment``); the
    mastery estimate reads answers from a year before the first month on. ``feedback`` is the
    problem-feedback loop's ``branch_key, month, median_resolution_hours, resolved_reports``
    frame; by default read from the store's problem reports."""
    first = pd.Period(months[0], freq="M").start_time.to_pydatetime()
    end = max(month_ends(months).values()).to_pydatetime()
    history_start = datetime(first.year - 1, first.month, 1)
    return branch_assessment(
        queries.branch_members(store),
        months=months,
        answers=queries.answers(store, history_start, end),
        study=queries.mandatory_study(store, first, end),
        content=queries.mandatory_content(store),
        judgements=queries.latest_check_in_judgements(store),
        attendance=queries.meeting_attendance(store, first, end),
        feedback=feedback_queries.resolution_hours_by_branch_month(store)
        if feedback is None
        else feedback,
    )


def _number(value: object) -> float | None:
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else number


def branch_rows(frame: pd.DataFrame, branch_key: str) -> AssessmentOut:
    """The branch's months of an ``assess_all`` frame."""
    mine = frame[frame["branch_key"] == branch_key]
    months = [
        AssessmentMonthOut(
            month=str(row["month"]),
            suppressed=bool(row["suppressed"]),
            members=None if pd.isna(row["members"]) else int(row["members"]),
            **{figure: _number(row[figure]) for figure in FIGURES},
            trend={figure: _number(row[f"{figure}_trend"]) for figure in FIGURES},
            vs_median={figure: _number(row[f"{figure}_vs_median"]) for figure in FIGURES},
        )
        for _, row in mine.iterrows()
    ]
    return AssessmentOut(min_group_size=MIN_GROUP_SIZE, months=months)


def branch_export(
    frame: pd.DataFrame, branch_key: str, store: StoreReader, personal: PersonalData
) -> bytes:
    """The branch's months as the filing CSV, under the branch's own name."""
    name = personal.cipher.decrypt(
        queries.branch_name_enc(store, branch_key), column="party_branch_enc"
    )
    mine = frame[frame["branch_key"] == branch_key]
    return assessment_csv(mine, {branch_key: name or branch_key})


@dataclass
class AssessmentCache:
    """``assess_all`` frames by window (``months``), each valid for the ingestion generation
    and store row counts it was computed at; the ``max_windows`` most recently used windows
    are kept. Thread-safe: one frame is computed at a time, so concurrent reads of a window
    compute it once (and two windows do not compete for the cores)."""

    max_windows: int = 8
    generation: int = 0
    hits: int = 0
    misses: int = 0
    _frames: OrderedDict[tuple[str, ...], tuple[tuple[int, tuple[int, ...]], pd.DataFrame]] = field(
        default_factory=OrderedDict
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _compute_lock: threading.Lock = field(default_factory=threading.Lock)

    def invalidate(self) -> None:
        with self._lock:
            self.generation += 1
            self._frames.clear()

    def push(self, frames_by_table: Mapping[str, pd.DataFrame]) -> Mapping[str, Any] | None:
        """The ingestion hook: drops every frame when the chunk added rows to a table the
        assessment reads; ``None`` (nothing to report) otherwise."""
        touched = sorted(
            table
            for table, frame in frames_by_table.items()
            if table in queries.ASSESSMENT_TABLES and len(frame)
        )
        if not touched:
            return None
        self.invalidate()
        return {"source": "party_assessment", "invalidated_by": touched}

    def frame(self, store: StoreReader, months: list[str]) -> pd.DataFrame:
        """The all-branch assessment of ``months`` (read-only: callers must not change it)."""
        key = tuple(months)
        cached = self._cached(key, (self.generation, queries.assessment_row_counts(store)))
        if cached is not None:
            return cached
        with self._compute_lock:
            version = (self.generation, queries.assessment_row_counts(store))
            cached = self._cached(key, version)  # computed while this read waited
            if cached is not None:
                return cached
            frame = assess_all(store, months)
            with self._lock:
                self.misses += 1
                if version[0] == self.generation:  # no ingestion landed while computing
                    self._frames[key] = (version, frame)
                    while len(self._frames) > self.max_windows:
                        self._frames.popitem(last=False)
            return frame

    def _cached(
        self, key: tuple[str, ...], version: tuple[int, tuple[int, ...]]
    ) -> pd.DataFrame | None:
        with self._lock:
            cached = self._frames.get(key)
            if cached is None or cached[0] != version:
                return None
            self._frames.move_to_end(key)
            self.hits += 1
            return cached[1]
