"""The branches' meeting history: a year of 主题党日 and 党课 at each branch's habitual slot,
and who attended.

World file ``party/meetings.csv``: one row per member expected at a meeting (party members of
the branch who had joined by then): ``meeting_id, party_branch, kind, starts_at`` (local
time, ISO), ``minutes, mode, employee_no, attended`` (true/false). Truth file
``meeting_attendance.json``: the planted attendance model.

The attendance model (``attendance_probability``): a member the roster leaves free for the
whole meeting (``features.party.meetings.Availability`` under the default rules) attends with
probability ``1 - P_LEAVE`` (leave, travel, illness); one the roster does not leave free
attends with probability ``P_SWAP`` (swapped a shift with a colleague). Habitual slots are the
usual fixed times branches keep (most: Friday 16:00).

The members are the learning half's (``people.sample_members`` with the same generator), so
employee numbers and branches agree with ``learning/members.csv``. Deterministic.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from features.party.meetings import Availability, MeetingRules, Member
from world.config import WorldConfig
from world.people import sample_members

MEETINGS_FILE = "party/meetings.csv"
TRUTH_MEETING_ATTENDANCE = "meeting_attendance.json"
MEETING_COLUMNS = (
    "meeting_id",
    "party_branch",
    "kind",
    "starts_at",
    "minutes",
    "mode",
    "employee_no",
    "attended",
)
P_LEAVE = 0.06
P_SWAP = 0.08
MEETING_MINUTES = 90
# (weekday 0 = Monday, minutes from midnight, share of branches keeping it)
HABITUAL_SLOTS: tuple[tuple[int, int, float], ...] = (
    (4, 16 * 60, 0.70),
    (2, 15 * 60, 0.15),
    (5, 9 * 60, 0.15),
)
FIXED_SLOT = HABITUAL_SLOTS[0][:2]  # the usual fixed slot: Friday 16:00
LECTURE_MONTHS = (1, 4, 7, 10)  # a quarterly 党课, in the third week


def attendance_probability(
    availability: Availability, member: Member, starts_at: datetime
) -> float:
    """P(the member attends a meeting of ``MEETING_MINUTES`` at ``starts_at``)."""
    if availability.can_attend(member, starts_at, MEETING_MINUTES):
        return 1.0 - P_LEAVE
    return P_SWAP


def _on_weekday(first: date, weekday: int) -> date:
    return first + timedelta(days=(weekday - first.weekday()) % 7)


def meeting_schedule(config: WorldConfig, branches: list[str]) -> pd.DataFrame:
    """One row per meeting: ``meeting_id, party_branch, kind, starts_at``."""
    rng = config.rng("party-meetings")
    weights = np.array([share for _, _, share in HABITUAL_SLOTS])
    habit = rng.choice(len(HABITUAL_SLOTS), size=len(branches), p=weights / weights.sum())
    rows: list[dict[str, object]] = []
    month = date(config.start.year, config.start.month, 1)
    while month <= config.end:
        for branch, slot in zip(branches, habit.tolist(), strict=True):
            weekday, minute = HABITUAL_SLOTS[slot][:2]
            day = _on_weekday(month, weekday)
            kinds = [("themed_party_day", day)]
            if month.month in LECTURE_MONTHS:
                kinds.append(("party_lecture", day + timedelta(days=14)))
            for kind, when in kinds:
                if config.start <= when <= config.end:
                    starts = datetime.combine(when, time()) + timedelta(minutes=minute)
                    rows.append({"party_branch": branch, "kind": kind, "starts_at": starts})
        month = (month + timedelta(days=32)).replace(day=1)
    frame = pd.DataFrame(rows).sort_values(["starts_at", "party_branch"], kind="stable")
    frame.insert(0, "meeting_id", [f"M{i:06d}" for i in range(1, len(frame) + 1)])
    return frame.reset_index(drop=True)


def meeting_attendance(config: WorldConfig, members: pd.DataFrame) -> pd.DataFrame:
    """One row per (meeting, expected member); columns ``MEETING_COLUMNS``. Whether the roster
    leaves a member free depends only on (shift pattern, crew, start), so it is decided once
    per such triple."""
    party = members[members["party_member"] & (members["party_branch"] != "")]
    branches = sorted(party["party_branch"].unique().tolist())
    meetings = meeting_schedule(config, branches)
    availability = Availability(MeetingRules(minutes=MEETING_MINUTES))
    rng = config.rng("party-attendance")
    by_branch = {
        str(name): list(
            zip(
                group["employee_no"].astype(str).tolist(),
                group["shift_pattern"].astype(str).tolist(),
                group["crew"].astype(str).tolist(),
                group["joined_on"].tolist(),
                group["employee_no"].tolist(),
                strict=True,
            )
        )
        for name, group in party.groupby("party_branch")
    }
    probability: dict[tuple[str, str, datetime], float] = {}
    rows: list[tuple[object, ...]] = []
    for meeting_id, branch, kind, starts in zip(
        meetings["meeting_id"].tolist(),
        meetings["party_branch"].tolist(),
        meetings["kind"].tolist(),
        meetings["starts_at"].tolist(),
        strict=True,
    ):
        starts_at = pd.Timestamp(str(starts)).to_pydatetime()
        day, text = starts_at.date(), starts_at.isoformat(timespec="minutes")
        expected = [member for member in by_branch[str(branch)] if member[3] <= day]
        draws = rng.random(len(expected))
        for (number, pattern, crew, _, employee_no), draw in zip(
            expected, draws.tolist(), strict=True
        ):
            key = (pattern, crew, starts_at)
            chance = probability.get(key)
            if chance is None:
                chance = probability[key] = attendance_probability(
                    availability, Member(number, pattern, crew), starts_at
                )
            rows.append(
                (
                    meeting_id,
                    branch,
                    kind,
                    text,
                    MEETING_MINUTES,
                    "in_person",
                    employee_no,
                    "true" if draw < chance else "false",
                )
            )
    return pd.DataFrame(rows, columns=list(MEETING_COLUMNS))


def generate_meetings_world(
    config: WorldConfig, world_dir: Path, truth_dir: Path
) -> dict[str, int]:
    """Write ``party/meetings.csv`` and its truth; returns counts for the manifest."""
    members = sample_members(
        config.rng("learning-members"), config.n_members, config.start, config.end
    )
    frame = meeting_attendance(config, members)
    target = world_dir / MEETINGS_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(MEETING_COLUMNS)
    writer.writerows(frame.itertuples(index=False))
    target.write_text(text.getvalue(), encoding="utf-8")
    truth = {
        "p_leave": P_LEAVE,
        "p_swap": P_SWAP,
        "meeting_minutes": MEETING_MINUTES,
        "habitual_slots": [list(slot) for slot in HABITUAL_SLOTS],
        "model": "available by roster: attends with 1 - p_leave; otherwise with p_swap",
    }
    truth_dir.mkdir(parents=True, exist_ok=True)
    (truth_dir / TRUTH_MEETING_ATTENDANCE).write_text(
        json.dumps(truth, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return {
        "party_meetings": int(frame["meeting_id"].nunique()),
        "meeting_attendance_rows": len(frame),
    }
