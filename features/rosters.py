"""Shift rosters as data, and when a member on one is free to study.

A roster is a ``ShiftPattern``: a cycle of shift codes (``None`` is a rest day) that every crew
runs, each crew shifted by its own offset from an anchor date. Times are local wall-clock time
(Asia/Shanghai, no daylight saving), in minutes from midnight.

Dating convention: a shift belongs to the calendar day its hours fall on. 夜班 00:00–08:00 on
2025-03-05 starts at midnight between the 4th and the 5th. The four-crew cycle that the trade
writes 早早中中夜夜休休 (night shifts dated by the evening they start) is therefore
早早中中休夜夜休 here; the hours worked are the same.

Free time on a day is what is left of it after work and sleep:

* work: each shift from ``commute_minutes`` before its start to ``commute_minutes`` after its
  end (travel, handover), except its breaks (a meal break is free, phones allowed);
* sleep: each shift brings its own (after a night shift, 09:00–15:00; after a middle shift,
  00:30–08:30), a rest day the pattern's ``rest_day_sleep``; work overrides sleep;
* windows shorter than ``min_window_minutes`` are too short to open a lesson and are dropped.

Public holidays are not modelled: mines run through them, and office staff's holidays would
only add free time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

MINUTES_PER_DAY = 1440
NIGHT_SLEEP = (23 * 60, 30 * 60 + 30)  # 23:00 to 06:30 next morning

Interval = tuple[int, int]


class RosterError(ValueError):
    """An unknown pattern or crew, or a malformed pattern definition."""


@dataclass(frozen=True)
class Shift:
    """One shift; minutes from midnight of the shift's own date (``end`` may be 1440)."""

    code: str
    name_zh: str
    start: int
    end: int
    breaks: tuple[Interval, ...] = ()
    sleep: tuple[Interval, ...] = (NIGHT_SLEEP,)


@dataclass(frozen=True)
class ShiftPattern:
    """A rotation: crew ``c`` works ``cycle[(days since anchor + crew_offsets[c]) % len]``."""

    name: str
    name_zh: str
    description: str
    anchor: date
    cycle: tuple[str | None, ...]
    crew_offsets: Mapping[str, int]
    shifts: Mapping[str, Shift]
    rest_day_sleep: tuple[Interval, ...] = (NIGHT_SLEEP,)
    commute_minutes: int = 30
    min_window_minutes: int = 10
    crews: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "crews", tuple(self.crew_offsets))
        unknown = {code for code in self.cycle if code is not None} - set(self.shifts)
        if unknown:
            raise RosterError(f"pattern {self.name!r}: cycle uses undefined shifts {unknown}")
        if not self.cycle or not self.crew_offsets:
            raise RosterError(f"pattern {self.name!r}: needs a cycle and at least one crew")


def _hm(hour: int, minute: int = 0) -> int:
    return hour * 60 + minute


EARLY = Shift("early", "早班", _hm(8), _hm(16), breaks=((_hm(12), _hm(12, 30)),))
MIDDLE = Shift(
    "middle",
    "中班",
    _hm(16),
    _hm(24),
    breaks=((_hm(20), _hm(20, 30)),),
    sleep=((_hm(24, 30), _hm(32, 30)),),
)
NIGHT = Shift(
    "night",
    "夜班",
    _hm(0),
    _hm(8),
    breaks=((_hm(4), _hm(4, 30)),),
    sleep=((_hm(9), _hm(15)), NIGHT_SLEEP),
)
DAY = Shift("day", "白班", _hm(8), _hm(17), breaks=((_hm(12), _hm(13)),))

# A Monday, so that weekly patterns start their weeks on Mondays.
_WEEK_ANCHOR = date(2024, 12, 30)

DAY_WORK = ShiftPattern(
    name="day",
    name_zh="常白班",
    description="office hours 08:00–17:00 Monday to Friday, lunch 12:00–13:00; one crew",
    anchor=_WEEK_ANCHOR,
    cycle=("day", "day", "day", "day", "day", None, None),
    crew_offsets={"A": 0},
    shifts={"day": DAY},
)

THREE_SHIFT = ShiftPattern(
    name="three_shift",
    name_zh="三班倒",
    description=(
        "早班 08–16, 中班 16–24, 夜班 00–08, Monday to Saturday, Sunday off (maintenance day); "
        "crews A/B/C rotate forward weekly (早→中→夜); in the anchor week A works 早班, "
        "B 中班, C 夜班"
    ),
    anchor=_WEEK_ANCHOR,
    cycle=(
        *(["early"] * 6 + [None]),
        *(["middle"] * 6 + [None]),
        *(["night"] * 6 + [None]),
    ),
    crew_offsets={"A": 0, "B": 7, "C": 14},
    shifts={"early": EARLY, "middle": MIDDLE, "night": NIGHT},
)

FOUR_CREW_THREE_SHIFT = ShiftPattern(
    name="four_crew_three_shift",
    name_zh="四班三倒",
    description=(
        "four crews on three shifts: two days each of 早班, 中班 and 夜班 and two rest days in an "
        "eight-day cycle (早早中中休夜夜休 by calendar day); crews two days apart, so every shift "
        "is manned every day; on the anchor day A starts 早班, B 中班, C rests, D 夜班"
    ),
    anchor=date(2025, 1, 1),
    cycle=("early", "early", "middle", "middle", None, "night", "night", None),
    crew_offsets={"A": 0, "B": 2, "C": 4, "D": 6},
    shifts={"early": EARLY, "middle": MIDDLE, "night": NIGHT},
)

PATTERNS: dict[str, ShiftPattern] = {
    pattern.name: pattern for pattern in (DAY_WORK, THREE_SHIFT, FOUR_CREW_THREE_SHIFT)
}


def get_pattern(pattern: ShiftPattern | str) -> ShiftPattern:
    if isinstance(pattern, ShiftPattern):
        return pattern
    found = PATTERNS.get(pattern)
    if found is None:
        raise RosterError(f"unknown shift pattern {pattern!r}; known: {', '.join(PATTERNS)}")
    return found


def shift_on(pattern: ShiftPattern | str, crew: str, day: date) -> Shift | None:
    """The shift ``crew`` works on ``day`` (by the hours it falls on), or None on a rest day."""
    resolved = get_pattern(pattern)
    offset = resolved.crew_offsets.get(crew)
    if offset is None:
        raise RosterError(
            f"pattern {resolved.name!r} has no crew {crew!r}; crews: {', '.join(resolved.crews)}"
        )
    code = resolved.cycle[((day - resolved.anchor).days + offset) % len(resolved.cycle)]
    return None if code is None else resolved.shifts[code]


def _union(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _subtract(intervals: Iterable[Interval], holes: Iterable[Interval]) -> list[Interval]:
    """``intervals`` minus ``holes``, both as minutes; the result is sorted and disjoint."""
    result = _union(intervals)
    for hole_start, hole_end in _union(holes):
        pieces: list[Interval] = []
        for start, end in result:
            if hole_end <= start or hole_start >= end:
                pieces.append((start, end))
                continue
            if start < hole_start:
                pieces.append((start, hole_start))
            if hole_end < end:
                pieces.append((hole_end, end))
        result = pieces
    return result


def _free_around(resolved: ShiftPattern, crew: str, day: date) -> list[Interval]:
    """Free windows (≥ the minimum length) overlapping ``day``, in minutes from its midnight.

    Windows may start before 0 or end after 1440: a window running across midnight is judged
    on its whole length.
    """
    work: list[Interval] = []
    work_spans: list[Interval] = []
    sleep: list[Interval] = []
    for offset in range(-2, 3):
        base = offset * MINUTES_PER_DAY
        shift = shift_on(resolved, crew, day + timedelta(days=offset))
        if shift is None:
            sleep.extend((base + a, base + b) for a, b in resolved.rest_day_sleep)
            continue
        span = (
            base + shift.start - resolved.commute_minutes,
            base + shift.end + resolved.commute_minutes,
        )
        work_spans.append(span)
        work.extend(_subtract([span], [(base + a, base + b) for a, b in shift.breaks]))
        sleep.extend((base + a, base + b) for a, b in shift.sleep)
    busy = _union(work + _subtract(sleep, work_spans))
    horizon = (-MINUTES_PER_DAY, 2 * MINUTES_PER_DAY)
    free = _subtract([horizon], busy)
    return [
        (start, end)
        for start, end in free
        if end - start >= resolved.min_window_minutes and end > 0 and start < MINUTES_PER_DAY
    ]


def free_minutes(pattern: ShiftPattern | str, crew: str, day: date) -> list[Interval]:
    """Free windows of ``day`` as ``(start, end)`` minutes from its midnight, within 0–1440.

    A window running across midnight is cut at midnight (and kept on both days if its whole
    length qualifies).
    """
    resolved = get_pattern(pattern)
    return [
        (max(start, 0), min(end, MINUTES_PER_DAY))
        for start, end in _free_around(resolved, crew, day)
    ]


def free_windows(
    pattern: ShiftPattern | str, crew: str, day: date
) -> list[tuple[datetime, datetime]]:
    """Free windows of ``day`` as local ``(start, end)`` datetimes, in order."""
    midnight = datetime.combine(day, time())
    return [
        (midnight + timedelta(minutes=start), midnight + timedelta(minutes=end))
        for start, end in free_minutes(pattern, crew, day)
    ]


def next_free_window(
    pattern: ShiftPattern | str, crew: str, after: datetime
) -> tuple[datetime, int]:
    """The first free time at or after ``after``: ``(start, whole minutes free from start)``.

    If ``after`` falls inside a window, the window starts at ``after``. Windows that meet at
    midnight count as one.
    """
    resolved = get_pattern(pattern)
    first = after.date()
    windows: list[tuple[datetime, datetime]] = []
    for offset in range(len(resolved.cycle) + 3):
        for start, end in free_windows(resolved, crew, first + timedelta(days=offset)):
            if windows and windows[-1][1] == start:
                windows[-1] = (windows[-1][0], end)
            else:
                windows.append((start, end))
    for start, end in windows:
        begin = max(start, after)
        minutes = int((end - begin).total_seconds() // 60)
        if minutes >= 1:
            return begin, minutes
    raise RosterError(f"pattern {resolved.name!r}, crew {crew!r}: no free time after {after}")


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def pattern_to_dict(pattern: ShiftPattern) -> dict[str, object]:
    """A JSON-ready definition; times as ``HH:MM`` (hours past 24 run into the next day)."""

    def intervals(values: Iterable[Interval]) -> list[list[str]]:
        return [[_clock(a), _clock(b)] for a, b in values]

    return {
        "name": pattern.name,
        "name_zh": pattern.name_zh,
        "description": pattern.description,
        "anchor": pattern.anchor.isoformat(),
        "cycle": list(pattern.cycle),
        "crew_offsets": dict(pattern.crew_offsets),
        "shifts": {
            code: {
                "name_zh": shift.name_zh,
                "start": _clock(shift.start),
                "end": _clock(shift.end),
                "breaks": intervals(shift.breaks),
                "sleep": intervals(shift.sleep),
            }
            for code, shift in pattern.shifts.items()
        },
        "rest_day_sleep": intervals(pattern.rest_day_sleep),
        "commute_minutes": pattern.commute_minutes,
        "min_window_minutes": pattern.min_window_minutes,
    }


def pattern_from_dict(data: Mapping[str, object]) -> ShiftPattern:
    """The inverse of ``pattern_to_dict``: a site's own roster, read from JSON."""

    def minutes(text: object) -> int:
        hours, _, mins = str(text).partition(":")
        return int(hours) * 60 + int(mins or 0)

    def intervals(values: object) -> tuple[Interval, ...]:
        return tuple((minutes(a), minutes(b)) for a, b in values)  # type: ignore[attr-defined]

    try:
        shifts = {
            str(code): Shift(
                str(code),
                str(spec["name_zh"]),
                minutes(spec["start"]),
                minutes(spec["end"]),
                intervals(spec.get("breaks", [])),
                intervals(spec.get("sleep", [list(map(_clock, NIGHT_SLEEP))])),
            )
            for code, spec in dict(data["shifts"]).items()  # type: ignore[call-overload]
        }
        return ShiftPattern(
            name=str(data["name"]),
            name_zh=str(data.get("name_zh", data["name"])),
            description=str(data.get("description", "")),
            anchor=date.fromisoformat(str(data["anchor"])),
            cycle=tuple(None if code is None else str(code) for code in data["cycle"]),  # type: ignore[attr-defined]
            crew_offsets={str(k): int(v) for k, v in dict(data["crew_offsets"]).items()},  # type: ignore[call-overload]
            shifts=shifts,
            rest_day_sleep=intervals(data.get("rest_day_sleep", [list(map(_clock, NIGHT_SLEEP))])),
            commute_minutes=int(data.get("commute_minutes", 30)),  # type: ignore[call-overload]
            min_window_minutes=int(data.get("min_window_minutes", 10)),  # type: ignore[call-overload]
        )
    except (KeyError, TypeError, ValueError) as error:
        raise RosterError(f"malformed shift pattern definition: {error}") from error


def shift_patterns_json(patterns: Iterable[ShiftPattern] = PATTERNS.values()) -> str:
    """The definitions as a JSON document (deterministic: sorted keys, fixed indent)."""
    document = {"patterns": [pattern_to_dict(pattern) for pattern in patterns]}
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
