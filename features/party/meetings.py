"""Meeting slots for a branch of shift workers (错峰参会): who can come when, from the rosters.

A member can attend a slot when the whole slot lies in time the roster leaves them
(``features.rosters.free_minutes``: after work, commute and sleep), or, for a shift the
organisation releases members from (``MeetingRules.releasable_shifts``: office hours), within
that shift; and not sooner than ``rest_after_night_minutes`` after a night shift ends that day.
Nothing is known of leave or travel: availability is an upper bound on attendance.

A plan for a period is a main slot (the one most members can make; ties go to the earlier),
a catch-up slot (the one that covers most of those the main slot misses; after the main
slot if any later one helps) and an online
session for whoever neither slot covers, each member listed with the reason they miss the
main slot (the shift they work, rest after a night shift, or sleep between shifts).

Members are identified by whatever key the caller passes (a pseudonym in the service); a
member without a known roster is taken to work office hours.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd

from features.rosters import ShiftPattern, free_minutes, get_pattern, shift_on

Interval = tuple[int, int]

WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")

# absence reason -> (English phrase after "the N", Chinese phrase)
REASONS: dict[str, tuple[str, str]] = {
    "early": ("on the early shift", "上早班"),
    "middle": ("on the middle shift", "上中班"),
    "night": ("on the night shift", "上夜班"),
    "day": ("at work", "在岗"),
    "after_night": ("resting after a night shift", "夜班后休息"),
    "rest": ("asleep between shifts", "倒班间隙休息"),
}


@dataclass(frozen=True)
class MeetingRules:
    """The organisation's rules for a meeting; times are local minutes from midnight.

    ``days`` are ISO weekdays less one (0 = Monday). A slot starts on the ``step_minutes``
    grid, no earlier than ``earliest`` and ends no later than ``latest``.
    """

    minutes: int = 90
    earliest: int = 8 * 60
    latest: int = 21 * 60
    days: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
    step_minutes: int = 30
    rest_after_night_minutes: int = 8 * 60
    releasable_shifts: frozenset[str] = frozenset({"day"})
    night_shifts: frozenset[str] = frozenset({"night"})

    def __post_init__(self) -> None:
        if not 0 < self.minutes <= self.latest - self.earliest:
            raise ValueError("a meeting must fit between the earliest start and the latest end")
        if not 0 <= self.earliest < self.latest <= 24 * 60:
            raise ValueError("earliest and latest must be minutes within one day, in order")
        if not self.days or any(not 0 <= d <= 6 for d in self.days):
            raise ValueError("days are weekdays 0 (Monday) to 6 (Sunday), at least one")
        if self.step_minutes <= 0:
            raise ValueError("step_minutes must be positive")


@dataclass(frozen=True)
class Member:
    key: str
    shift_pattern: str | None = None
    crew: str | None = None


@dataclass(frozen=True)
class Slot:
    """One meeting: local start and length; ``attendees`` and ``absent`` are member keys,
    ``reasons`` maps every absent key to a ``REASONS`` code."""

    starts_at: datetime
    minutes: int
    attendees: tuple[str, ...]
    absent: tuple[str, ...]
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MeetingPlan:
    period_start: date
    period_end: date
    members: int
    main: Slot | None
    catch_up: Slot | None
    catch_up_covers: tuple[str, ...]
    online: tuple[str, ...]
    uncovered: tuple[str, ...]

    @property
    def covered_share(self) -> float:
        if not self.members:
            return 0.0
        return 1.0 - len(self.uncovered) / self.members


def _roster(member: Member) -> tuple[ShiftPattern, str]:
    if member.shift_pattern is None:
        return get_pattern("day"), "A"
    pattern = get_pattern(member.shift_pattern)
    crew = member.crew if member.crew in pattern.crew_offsets else pattern.crews[0]
    return pattern, str(crew)


class Availability:
    """Who can attend what, cached per (pattern, crew, day): rosters repeat across members."""

    def __init__(self, rules: MeetingRules) -> None:
        self.rules = rules
        self._windows: dict[tuple[str, str, date], list[Interval]] = {}

    def windows(self, pattern: ShiftPattern, crew: str, day: date) -> list[Interval]:
        """Minutes of ``day`` a member of the roster could spend in a meeting."""
        key = (pattern.name, crew, day)
        found = self._windows.get(key)
        if found is not None:
            return found
        windows = list(free_minutes(pattern, crew, day))
        shift = shift_on(pattern, crew, day)
        if shift is not None and shift.code in self.rules.releasable_shifts:
            span = (shift.start - pattern.commute_minutes, shift.end + pattern.commute_minutes)
            windows = _merge([*windows, span])
        if shift is not None and shift.code in self.rules.night_shifts:
            rested = shift.end + self.rules.rest_after_night_minutes
            windows = [(max(a, rested), b) for a, b in windows if b > rested]
        self._windows[key] = windows
        return windows

    def can_attend(self, member: Member, starts_at: datetime, minutes: int) -> bool:
        pattern, crew = _roster(member)
        start = starts_at.hour * 60 + starts_at.minute
        end = start + minutes
        return any(
            a <= start and end <= b for a, b in self.windows(pattern, crew, starts_at.date())
        )

    def reason(self, member: Member, starts_at: datetime, minutes: int) -> str:
        """Why ``member`` cannot attend: the shift the slot falls in, rest after a night
        shift, or sleep between shifts."""
        pattern, crew = _roster(member)
        day = starts_at.date()
        start = starts_at.hour * 60 + starts_at.minute
        end = start + minutes
        shift = shift_on(pattern, crew, day)
        if shift is not None:
            commute = pattern.commute_minutes
            if start < shift.end + commute and shift.start - commute < end:
                return shift.code if shift.code in REASONS else "day"
            if shift.code in self.rules.night_shifts:
                return "after_night"
        return "rest"


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def candidate_starts(start: date, end: date, rules: MeetingRules) -> list[datetime]:
    """Every allowed start in ``[start, end]`` (both inclusive), in time order."""
    starts: list[datetime] = []
    day = start
    while day <= end:
        if day.weekday() in rules.days:
            midnight = datetime.combine(day, time())
            minute = rules.earliest
            while minute + rules.minutes <= rules.latest:
                starts.append(midnight + timedelta(minutes=minute))
                minute += rules.step_minutes
        day += timedelta(days=1)
    return starts


def availability_matrix(
    members: Sequence[Member], starts: Sequence[datetime], availability: Availability
) -> np.ndarray:
    """Boolean (len(starts), len(members)): who can attend each candidate start. Computed
    once per distinct roster (a branch has a handful), then spread to its members."""
    minutes = availability.rules.minutes
    rosters = [_roster(member) for member in members]
    columns: dict[tuple[str, str], np.ndarray] = {}
    for (pattern, crew), member in zip(rosters, members, strict=True):
        if (pattern.name, crew) not in columns:
            columns[(pattern.name, crew)] = np.array(
                [availability.can_attend(member, s, minutes) for s in starts], dtype=bool
            )
    matrix = np.zeros((len(starts), len(members)), dtype=bool)
    for j, (pattern, crew) in enumerate(rosters):
        matrix[:, j] = columns[(pattern.name, crew)]
    return matrix


def _slot(
    members: Sequence[Member], row: np.ndarray, starts_at: datetime, availability: Availability
) -> Slot:
    minutes = availability.rules.minutes
    absent = [m for m, ok in zip(members, row.tolist(), strict=True) if not ok]
    return Slot(
        starts_at=starts_at,
        minutes=minutes,
        attendees=tuple(m.key for m, ok in zip(members, row.tolist(), strict=True) if ok),
        absent=tuple(m.key for m in absent),
        reasons={m.key: availability.reason(m, starts_at, minutes) for m in absent},
    )


def plan_meetings(
    members: Sequence[Member], start: date, end: date, rules: MeetingRules | None = None
) -> MeetingPlan:
    """The main slot, the catch-up slot and the online remainder for ``members`` in the
    period ``[start, end]``; an empty branch or a period with no allowed start has no slots."""
    rules = rules or MeetingRules()
    availability = Availability(rules)
    starts = candidate_starts(start, end, rules)
    keys = tuple(m.key for m in members)
    if not members or not starts:
        return MeetingPlan(start, end, len(members), None, None, (), (), keys)
    matrix = availability_matrix(members, starts, availability)
    best = int(np.argmax(matrix.sum(axis=1)))
    main = _slot(members, matrix[best], starts[best], availability)
    missed = ~matrix[best]
    catch_up: Slot | None = None
    covers: tuple[str, ...] = ()
    if missed.any():
        main_end = starts[best] + timedelta(minutes=rules.minutes)
        apart = np.array(
            [s >= main_end or s + timedelta(minutes=rules.minutes) <= starts[best] for s in starts]
        )
        after = np.array([s >= main_end for s in starts])
        covered = (matrix & missed).sum(axis=1)
        gain = np.where(after, covered, -1)
        if gain.max() <= 0:  # nothing after the main slot helps: look before it too
            gain = np.where(apart, covered, -1)
        second = int(np.argmax(gain))
        if gain[second] > 0:
            catch_up = _slot(members, matrix[second], starts[second], availability)
            covers = tuple(
                k for k, hit in zip(keys, (matrix[second] & missed).tolist(), strict=True) if hit
            )
            missed = missed & ~matrix[second]
    online, uncovered = _online(members, missed, start, end, rules)
    return MeetingPlan(start, end, len(members), main, catch_up, covers, online, uncovered)


def _online(
    members: Sequence[Member], missed: np.ndarray, start: date, end: date, rules: MeetingRules
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split the members left over into those with a free window as long as the meeting
    somewhere in the period (they can follow a recorded or online session) and the rest."""
    online: list[str] = []
    uncovered: list[str] = []
    for member, left in zip(members, missed.tolist(), strict=True):
        if not left:
            continue
        pattern, crew = _roster(member)
        day = start
        found = False
        while day <= end and not found:
            found = any(b - a >= rules.minutes for a, b in free_minutes(pattern, crew, day))
            day += timedelta(days=1)
        (online if found else uncovered).append(member.key)
    return tuple(online), tuple(uncovered)


def _when(starts_at: datetime, language: str) -> str:
    clock = starts_at.strftime("%H:%M")
    if language == "zh":
        return f"{starts_at.month}月{starts_at.day}日{WEEKDAYS_ZH[starts_at.weekday()]}{clock}"
    return f"{WEEKDAYS_EN[starts_at.weekday()]} {starts_at.date().isoformat()} {clock}"


def _reason_counts(slot: Slot, keys: Iterable[str]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for key in keys:
        code = slot.reasons.get(key, "rest")
        counts[code] = counts.get(code, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def explain(plan: MeetingPlan) -> dict[str, list[str]]:
    """Reasons in English and Chinese, e.g. "12 of 15 members can attend Friday 2025-03-07
    16:00; the 3 on the night shift are covered by the catch-up on Tuesday 2025-03-11
    10:00"."""
    if plan.main is None:
        return {
            "en": ["no allowed meeting time in the period, or no members"],
            "zh": ["该时段内没有符合规定的会议时间，或支部无成员"],
        }
    main = plan.main
    en = [
        f"{len(main.attendees)} of {plan.members} members can attend {_when(main.starts_at, 'en')}"
    ]
    zh = [f"{plan.members}名党员中{len(main.attendees)}名可参加{_when(main.starts_at, 'zh')}的会议"]
    if plan.catch_up is not None and plan.catch_up_covers:
        groups = _reason_counts(main, plan.catch_up_covers)
        en_who = " and ".join(f"the {n} {REASONS[code][0]}" for code, n in groups)
        zh_who = "、".join(f"{REASONS[code][1]}的{n}名" for code, n in groups)
        en.append(f"{en_who} are covered by the catch-up on {_when(plan.catch_up.starts_at, 'en')}")
        zh.append(f"{zh_who}由{_when(plan.catch_up.starts_at, 'zh')}的补学会覆盖")
    if plan.online:
        en.append(f"{len(plan.online)} more can follow an online session in a free window")
        zh.append(f"另有{len(plan.online)}名可在空闲时段参加线上学习")
    if plan.uncovered:
        en.append(f"{len(plan.uncovered)} have no free window long enough in the period")
        zh.append(f"{len(plan.uncovered)}名在该时段内没有足够长的空闲时间")
    return {"en": en, "zh": zh}


def coverage_by_roster(members: Sequence[Member], covered: Iterable[str]) -> pd.DataFrame:
    """Share of members covered, per roster type (``day`` for members without one) and
    overall: columns ``shift_pattern``, ``members``, ``covered``, ``share``."""
    hit = set(covered)
    frame = pd.DataFrame(
        {
            "shift_pattern": [m.shift_pattern or "day" for m in members],
            "covered": [m.key in hit for m in members],
        }
    )
    by = frame.groupby("shift_pattern")["covered"].agg(members="size", covered="sum")
    total = pd.DataFrame(
        {"members": [len(frame)], "covered": [int(frame["covered"].sum())]}, index=["all"]
    )
    out = pd.concat([by, total]).rename_axis("shift_pattern").reset_index()
    out["share"] = out["covered"] / out["members"].where(out["members"] > 0)
    return out
