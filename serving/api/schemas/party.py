"""Response bodies of the party-work routes (``/v1/branches/mine/meeting-slots``,
``/v1/branches/mine/assessment``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

AbsenceReason = Literal["early", "middle", "night", "day", "after_night", "rest"]


class AbsentMemberOut(BaseModel):
    """A member of the officer's own branch who cannot make the slot, and why."""

    employee_no: str
    name: str | None
    reason: AbsenceReason = Field(description="the shift worked, rest after nights, or sleep")


class SlotOut(BaseModel):
    starts_at: datetime = Field(description="local wall-clock time (Asia/Shanghai)")
    minutes: int
    attendees: int = Field(description="members the rosters leave free for the whole slot")
    absent: list[AbsentMemberOut]


class MeetingSlotsOut(BaseModel):
    period_start: date
    period_end: date
    members: int
    main: SlotOut | None = Field(description="the slot most members can make")
    catch_up: SlotOut | None = Field(description="the slot covering most of those main misses")
    catch_up_covers: int
    online: list[str] = Field(description="employee numbers offered an online session")
    uncovered: list[str] = Field(description="employee numbers with no long enough free time")
    covered_share: float = Field(ge=0, le=1)
    reasons_en: list[str]
    reasons_zh: list[str]


class AssessmentMonthOut(BaseModel):
    """One month of the branch; every figure is None when its group is under five."""

    month: str = Field(pattern=r"^\d{4}-\d{2}$")
    suppressed: bool
    members: int | None
    mastery_gain: float | None = Field(description="change of estimated P(correct), not minutes")
    mandatory_completed: float | None = Field(description="share of the month's mandatory items")
    mandatory_passed: float | None
    check_in_only_share: float | None
    meeting_coverage: float | None = Field(description="share attending a meeting that month")
    feedback_resolution_hours: float | None = Field(description="None until feedback is wired")
    trend: dict[str, float | None] = Field(description="figure less the previous 3 months' mean")
    vs_median: dict[str, float | None] = Field(description="figure less the branches' median")


class AssessmentOut(BaseModel):
    min_group_size: int
    months: list[AssessmentMonthOut]
