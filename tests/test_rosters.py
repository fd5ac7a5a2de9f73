"""Shift rosters: hand-checked days of each pattern, free windows, the next free window."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from features.rosters import (
    PATTERNS,
    RosterError,
    free_minutes,
    free_windows,
    next_free_window,
    pattern_from_dict,
    pattern_to_dict,
    shift_on,
    shift_patterns_json,
)


def _hm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _code(pattern: str, crew: str, day: date) -> str | None:
    shift = shift_on(pattern, crew, day)
    return None if shift is None else shift.code


def test_day_work_is_monday_to_friday_with_lunch_free() -> None:
    assert _code("day", "A", date(2025, 1, 2)) == "day"  # Thursday
    assert _code("day", "A", date(2025, 1, 4)) is None  # Saturday
    assert free_minutes("day", "A", date(2025, 1, 2)) == [
        (_hm("06:30"), _hm("07:30")),
        (_hm("12:00"), _hm("13:00")),
        (_hm("17:30"), _hm("23:00")),
    ]
    assert free_minutes("day", "A", date(2025, 1, 5)) == [(_hm("06:30"), _hm("23:00"))]


@pytest.mark.parametrize(
    ("crew", "day", "expected"),
    [
        ("A", date(2025, 1, 2), "early"),  # anchor week: A 早班
        ("B", date(2025, 1, 2), "middle"),
        ("C", date(2025, 1, 2), "night"),
        ("A", date(2025, 1, 5), None),  # Sunday off
        ("A", date(2025, 1, 7), "middle"),  # next week: forward rotation
        ("A", date(2025, 1, 14), "night"),
        ("A", date(2025, 1, 21), "early"),
        ("C", date(2025, 1, 7), "early"),
    ],
)
def test_three_shift_rotates_weekly(crew: str, day: date, expected: str | None) -> None:
    assert _code("three_shift", crew, day) == expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2025, 1, 1), "early"),
        (date(2025, 1, 2), "early"),
        (date(2025, 1, 3), "middle"),
        (date(2025, 1, 4), "middle"),
        (date(2025, 1, 5), None),
        (date(2025, 1, 6), "night"),
        (date(2025, 1, 7), "night"),
        (date(2025, 1, 8), None),
        (date(2025, 1, 9), "early"),
        (date(2024, 12, 31), None),  # the cycle runs backwards too
    ],
)
def test_four_crew_cycle_of_crew_a(day: date, expected: str | None) -> None:
    assert _code("four_crew_three_shift", "A", day) == expected


@pytest.mark.parametrize("pattern", ["three_shift", "four_crew_three_shift"])
def test_every_shift_is_manned_by_exactly_one_crew(pattern: str) -> None:
    roster = PATTERNS[pattern]
    for offset in range(60):
        day = date(2025, 3, 1) + timedelta(days=offset)
        codes = [_code(pattern, crew, day) for crew in roster.crews]
        working = sorted(code for code in codes if code is not None)
        if pattern == "three_shift" and day.weekday() == 6:
            assert working == []  # Sunday: maintenance day
        else:
            assert working == ["early", "middle", "night"]


def test_four_crew_works_two_days_of_each_shift_and_rests_two() -> None:
    for crew in PATTERNS["four_crew_three_shift"].crews:
        codes = [
            _code("four_crew_three_shift", crew, date(2025, 5, 1) + timedelta(days=d))
            for d in range(8)
        ]
        assert sorted(codes, key=str) == sorted(
            ["early"] * 2 + ["middle"] * 2 + ["night"] * 2 + [None] * 2, key=str
        )


def test_night_shift_leaves_the_meal_break_and_the_afternoon_free() -> None:
    # crew C works 夜班 00:00-08:00 in the anchor week of three_shift
    windows = free_minutes("three_shift", "C", date(2025, 1, 2))
    assert (_hm("04:00"), _hm("04:30")) in windows
    assert (_hm("15:00"), _hm("23:00")) in windows
    assert all(
        not (start < _hm("04:00") and end > 0) for start, end in windows if start < _hm("08:00")
    )


@pytest.mark.parametrize("pattern", list(PATTERNS))
def test_free_windows_never_overlap_working_hours(pattern: str) -> None:
    roster = PATTERNS[pattern]
    for crew in roster.crews:
        for offset in range(30):
            day = date(2025, 6, 1) + timedelta(days=offset)
            shift = shift_on(roster, crew, day)
            windows = free_minutes(roster, crew, day)
            assert windows == sorted(windows)
            for start, end in windows:
                assert 0 <= start < end <= 1440
                if shift is None:
                    continue
                for minute in range(start, end):
                    on_shift = shift.start <= minute < shift.end
                    on_break = any(a <= minute < b for a, b in shift.breaks)
                    assert not on_shift or on_break, (pattern, crew, day, start, end)


def test_free_windows_are_datetimes_of_that_day() -> None:
    windows = free_windows("day", "A", date(2025, 1, 2))
    assert windows[0] == (datetime(2025, 1, 2, 6, 30), datetime(2025, 1, 2, 7, 30))


def test_next_free_window_inside_a_window_starts_now() -> None:
    assert next_free_window("day", "A", datetime(2025, 1, 2, 12, 15)) == (
        datetime(2025, 1, 2, 12, 15),
        45,
    )


def test_next_free_window_during_work_waits_for_the_break() -> None:
    assert next_free_window("day", "A", datetime(2025, 1, 2, 9, 0)) == (
        datetime(2025, 1, 2, 12, 0),
        60,
    )


def test_next_free_window_across_midnight() -> None:
    # Thursday 23:10 is bedtime; the next window is Friday 06:30-07:30
    assert next_free_window("day", "A", datetime(2025, 1, 2, 23, 10)) == (
        datetime(2025, 1, 3, 6, 30),
        60,
    )
    # a middle-shift worker at 21:00 waits through the shift and the night
    start, minutes = next_free_window("three_shift", "B", datetime(2025, 1, 2, 21, 0))
    assert (start, minutes) == (datetime(2025, 1, 3, 8, 30), 420)


def test_a_window_running_across_midnight_counts_as_one() -> None:
    definition = pattern_to_dict(PATTERNS["day"])
    definition["name"] = "night_owl"
    definition["rest_day_sleep"] = [["26:00", "34:00"]]  # rest days: bed at 02:00, up at 10:00
    owl = pattern_from_dict(definition)
    saturday = date(2025, 1, 4)  # up at 06:30 after Friday's work, in bed Sunday 02:00
    assert free_minutes(owl, "A", saturday) == [(_hm("06:30"), 1440)]
    assert free_minutes(owl, "A", saturday + timedelta(days=1))[0] == (0, _hm("02:00"))
    assert next_free_window(owl, "A", datetime(2025, 1, 4, 23, 0)) == (
        datetime(2025, 1, 4, 23, 0),
        180,
    )


@pytest.mark.parametrize("pattern", list(PATTERNS))
def test_definitions_round_trip_through_json(pattern: str) -> None:
    assert pattern_from_dict(pattern_to_dict(PATTERNS[pattern])) == PATTERNS[pattern]
    assert pattern in shift_patterns_json()


def test_unknown_pattern_or_crew_is_a_named_error() -> None:
    with pytest.raises(RosterError, match="no crew"):
        shift_on("day", "B", date(2025, 1, 2))
    with pytest.raises(RosterError, match="unknown shift pattern"):
        free_minutes("five_shift", "A", date(2025, 1, 2))
    with pytest.raises(RosterError, match="malformed"):
        pattern_from_dict({"name": "broken"})
