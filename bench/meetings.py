"""Meeting coverage on the demo world: suggested slots against the usual fixed slot and the
best single slot, by roster type.

For every branch and month of the demo year (the branch's party members who had joined by the
month's first day), three ways to hold the month's meeting:

* fixed: the usual fixed slot, the month's first Friday 16:00 (what most branches of the
  world keep; ``world.meetings.FIXED_SLOT``);
* best single slot: the one slot of the month most members can make
  (``features.party.meetings.plan_meetings``'s main slot);
* suggested: the main slot plus the catch-up slot; and, as a last column, with the online
  session offered to whoever neither slot covers.

Coverage is the share of member-months attending, under the world's attendance model
(``world.meetings.attendance_probability``: free by roster, attends unless on leave; not free,
attends only after a shift swap), taken in expectation. The fixed slot is also measured from
the world's meeting history (``party/meetings.csv``: the attendance drawn at the branches that
keep Friday 16:00), which checks the model against the register it generated. The planner reads
the same rosters the world's attendance follows, so this measures how much of the absence the
rosters explain, not robustness to constraints the rosters do not hold (leave, travel).
The online column counts an online-session member as attending unless on leave.

    python -m bench.meetings [--scale 1.0]
"""

from __future__ import annotations

import argparse
from datetime import date, datetime, time, timedelta

import pandas as pd

from bench.results import write_section
from features.party.meetings import Availability, MeetingRules, Member, plan_meetings
from world.config import WorldConfig
from world.meetings import (
    FIXED_SLOT,
    MEETING_MINUTES,
    P_LEAVE,
    attendance_probability,
    meeting_attendance,
)
from world.people import sample_members

STRATEGIES = ("fixed_measured", "fixed", "best_single", "suggested", "suggested_online")


def _months(start: date, end: date) -> list[tuple[date, date]]:
    months: list[tuple[date, date]] = []
    first = date(start.year, start.month, 1)
    while first <= end:
        following = (first + timedelta(days=32)).replace(day=1)
        months.append((first, min(end, following - timedelta(days=1))))
        first = following
    return months


def _fixed_start(first: date) -> datetime:
    weekday, minute = FIXED_SLOT
    day = first + timedelta(days=(weekday - first.weekday()) % 7)
    return datetime.combine(day, time()) + timedelta(minutes=minute)


def coverage_rows(config: WorldConfig) -> pd.DataFrame:
    """One row per member-month: ``shift_pattern`` and the expected attendance under each
    strategy but the measured one."""
    members = sample_members(
        config.rng("learning-members"), config.n_members, config.start, config.end
    )
    party = members[members["party_member"] & (members["party_branch"] != "")]
    rules = MeetingRules(minutes=MEETING_MINUTES)
    availability = Availability(rules)
    rows: list[dict[str, object]] = []
    for _, branch in party.groupby("party_branch"):
        for first, last in _months(config.start, config.end):
            present = branch[branch["joined_on"] <= first]
            roster = [
                Member(str(m.employee_no), str(m.shift_pattern), str(m.crew))
                for m in present.itertuples(index=False)
            ]
            if not roster:
                continue
            plan = plan_meetings(roster, first, last, rules)
            fixed = _fixed_start(first)
            online = set(plan.online)
            for member in roster:
                p_fixed = attendance_probability(availability, member, fixed)
                p_main = p_catch = 0.0
                if plan.main is not None:
                    p_main = attendance_probability(availability, member, plan.main.starts_at)
                if plan.catch_up is not None:
                    p_catch = attendance_probability(availability, member, plan.catch_up.starts_at)
                suggested = 1.0 - (1.0 - p_main) * (1.0 - p_catch)
                rows.append(
                    {
                        "shift_pattern": member.shift_pattern,
                        "fixed": p_fixed,
                        "best_single": p_main,
                        "suggested": suggested,
                        "suggested_online": 1.0 - P_LEAVE if member.key in online else suggested,
                    }
                )
    return pd.DataFrame(rows)


def measured_fixed(config: WorldConfig) -> pd.Series:
    """Attendance share at Friday 16:00 themed party days in the world's history, by roster."""
    members = sample_members(
        config.rng("learning-members"), config.n_members, config.start, config.end
    )
    history = meeting_attendance(config, members)
    starts = pd.to_datetime(history["starts_at"])
    weekday, minute = FIXED_SLOT
    fixed = history[
        (starts.dt.day_of_week == weekday)
        & (starts.dt.hour * 60 + starts.dt.minute == minute)
        & (history["kind"] == "themed_party_day")
    ]
    joined = fixed.merge(members[["employee_no", "shift_pattern"]], on="employee_no")
    attended = joined["attended"] == "true"
    by = attended.groupby(joined["shift_pattern"]).mean()
    return pd.concat([by, pd.Series({"all": float(attended.mean())})])


def coverage_table(config: WorldConfig) -> pd.DataFrame:
    rows = coverage_rows(config)
    by = rows.groupby("shift_pattern")[list(STRATEGIES[1:])].mean()
    by.loc["all"] = rows[list(STRATEGIES[1:])].mean()
    by.insert(0, "fixed_measured", measured_fixed(config))
    by.insert(0, "member_months", rows.groupby("shift_pattern").size())
    by.loc["all", "member_months"] = len(rows)
    return by


def markdown(table: pd.DataFrame, config: WorldConfig) -> str:
    header = (
        "| roster | member-months | fixed Fri 16:00, measured | fixed Fri 16:00 | best single "
        "slot | suggested (main + catch-up) | suggested + online |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    )
    lines = [
        f"| {name} | {int(row.member_months):,} | "
        + " | ".join(f"{row[s]:.1%}" for s in STRATEGIES)
        + " |"
        for name, row in table.iterrows()
    ]
    return (
        f"Demo world scale {config.scale}, seed {config.seed}; every branch and month of "
        f"{config.start.year}; {MEETING_MINUTES}-minute meetings, default rules (Monday to "
        "Saturday, 08:00 to 21:00, 8 hours' rest after a night shift). Share of member-months "
        "attending (expected under the world's attendance model; *measured* is the history's "
        "own draws at the branches keeping Friday 16:00).\n\n" + header + "\n".join(lines)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    config = WorldConfig(scale=args.scale)
    table = coverage_table(config)
    body = markdown(table, config)
    print(body)
    if not args.no_write:
        write_section("Meeting slots (bench/meetings.py)", body)


if __name__ == "__main__":
    main()
