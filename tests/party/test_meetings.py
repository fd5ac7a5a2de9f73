"""Meeting slots from rosters: rest after night shifts, the organisation's rules, the plan's
cover, and its reasons."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from features.party.meetings import (
    Availability,
    MeetingRules,
    Member,
    candidate_starts,
    coverage_by_roster,
    explain,
    plan_meetings,
)

# In the week of 2025-01-06 (a Monday) three-shift crew A works 中班, B 夜班 and C 早班.
TUESDAY = date(2025, 1, 7)


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute)


def _branch() -> list[Member]:
    day = [Member(f"d{i}", "day", "A") for i in range(9)]
    shifts = [Member(f"{crew}{i}", "three_shift", crew) for crew in "ABC" for i in range(2)]
    return day + shifts


def test_no_meeting_too_soon_after_a_night_shift() -> None:
    night = Member("b", "three_shift", "B")
    strict = Availability(MeetingRules(minutes=60))
    assert not strict.can_attend(night, _at(TUESDAY, 15), 60)
    assert strict.can_attend(night, _at(TUESDAY, 16), 60)
    assert strict.reason(night, _at(TUESDAY, 15), 60) == "after_night"
    lenient = Availability(MeetingRules(minutes=60, rest_after_night_minutes=0))
    assert lenient.can_attend(night, _at(TUESDAY, 15), 60)  # the roster's sleep ends 15:00


def test_office_hours_are_released_but_production_shifts_are_not() -> None:
    availability = Availability(MeetingRules())
    assert availability.can_attend(Member("d", "day", "A"), _at(TUESDAY, 10), 90)
    early = Member("c", "three_shift", "C")
    assert not availability.can_attend(early, _at(TUESDAY, 10), 90)
    assert availability.reason(early, _at(TUESDAY, 10), 90) == "early"
    assert availability.can_attend(Member("x", None, None), _at(TUESDAY, 10), 90)


def test_candidate_starts_keep_to_the_rules() -> None:
    rules = MeetingRules(minutes=60, earliest=9 * 60, latest=18 * 60, days=(1, 3))
    starts = candidate_starts(date(2025, 1, 6), date(2025, 1, 12), rules)
    assert {s.weekday() for s in starts} == {1, 3}
    assert min(s.hour * 60 + s.minute for s in starts) == 9 * 60
    assert max(s.hour * 60 + s.minute for s in starts) + 60 == 18 * 60
    with pytest.raises(ValueError, match="fit"):
        MeetingRules(minutes=600, earliest=9 * 60, latest=17 * 60)


def test_the_plan_covers_every_member_once_and_says_how() -> None:
    members = _branch()
    plan = plan_meetings(members, TUESDAY, TUESDAY)
    assert plan.main is not None
    availability = Availability(MeetingRules())
    for starts in candidate_starts(TUESDAY, TUESDAY, MeetingRules()):
        can = sum(availability.can_attend(m, starts, 90) for m in members)
        assert can <= len(plan.main.attendees)
    parts = [plan.main.attendees, plan.catch_up_covers, plan.online, plan.uncovered]
    flat = [key for part in parts for key in part]
    assert sorted(flat) == sorted(m.key for m in members)
    assert set(plan.main.absent) == set(flat) - set(plan.main.attendees)
    reasons = explain(plan)
    assert reasons["en"][0].startswith(f"{len(plan.main.attendees)} of 15 members can attend")
    assert reasons["zh"][0].startswith(f"15名党员中{len(plan.main.attendees)}名")
    # the middle shift runs to midnight: only a morning slot, before the main one, takes it
    assert plan.catch_up is not None
    assert plan.catch_up.starts_at.hour < plan.main.starts_at.hour
    assert reasons["en"][1] == "the 2 on the middle shift are covered by the catch-up on " + (
        f"Tuesday 2025-01-07 {plan.catch_up.starts_at:%H:%M}"
    )


def test_over_a_month_the_catch_up_takes_the_crew_the_main_slot_misses() -> None:
    members = _branch()
    plan = plan_meetings(members, date(2025, 1, 6), date(2025, 1, 31))
    assert plan.main is not None
    assert plan.catch_up is not None
    assert len(plan.main.attendees) < len(members)
    assert plan.uncovered == ()
    assert set(plan.catch_up_covers) == set(plan.main.absent)


def test_an_empty_branch_or_a_period_without_allowed_days_has_no_slot() -> None:
    assert plan_meetings([], TUESDAY, TUESDAY).main is None
    sunday = date(2025, 1, 12)
    plan = plan_meetings(_branch(), sunday, sunday)  # Sundays are not allowed by default
    assert plan.main is None
    assert len(plan.uncovered) == 15
    assert explain(plan)["en"]


def test_coverage_by_roster_counts_each_type_and_all() -> None:
    members = [Member("a", "day"), Member("b", "three_shift", "A"), Member("c", None)]
    table = coverage_by_roster(members, ["a", "b"]).set_index("shift_pattern")
    assert table.loc["day", "members"] == 2
    assert table.loc["day", "covered"] == 1
    assert table.loc["three_shift", "share"] == 1.0
    assert table.loc["all", "share"] == pytest.approx(2 / 3)
