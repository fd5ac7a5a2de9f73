"""Party work for party officers: meeting slots for the officer's own branch from its members'
rosters, and the branch's monthly assessment (JSON, or the CSV the party-work office files).

Like ``/v1/branches/mine/mastery``: the branch is the one of the officer's own member record;
no other branch can be asked for (404 when the officer has none on record). Every call is in
the audit log (the auth dependency marks it). Routes are plain ``def``: planning and the
assessment run in the threadpool. The assessment is read through the service's
``AssessmentCache`` (recomputed when new data has landed).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from core.security import PersonalData
from features.party.meetings import MeetingRules
from serving.api.schemas.party import AssessmentOut, MeetingSlotsOut
from serving.deps import PartyOfficerDep, PersonalDep, StoreDep
from serving.jobs import party
from serving.platform.errors import ApiError, documented
from store.database import StoreReader
from store.queries import party as queries

router = APIRouter(tags=["party"])

MAX_PERIOD_DAYS = 62
_NO_BRANCH = documented(404, _404="the caller has no branch on record")


def get_assessment_cache(request: Request) -> party.AssessmentCache:
    cache: party.AssessmentCache = request.app.state.party_assessment
    return cache


AssessmentCacheDep = Annotated[party.AssessmentCache, Depends(get_assessment_cache)]


def _own_branch(store: StoreReader, personal: PersonalData, subject: str) -> str:
    branch_key = queries.branch_of_member(store, personal.member_key(subject))
    if branch_key is None:
        raise ApiError(404, "not_found", "no party branch on record for the caller")
    return branch_key


@router.get(
    "/branches/mine/meeting-slots",
    response_model=MeetingSlotsOut,
    responses={**_NO_BRANCH, **documented(422)},
)
def my_branch_meeting_slots(
    caller: PartyOfficerDep,
    personal: PersonalDep,
    store: StoreDep,
    start: Annotated[date, Query(description="first day of the period")],
    end: Annotated[date | None, Query(description="last day (default: start + 27 days)")] = None,
    minutes: Annotated[int, Query(ge=30, le=240, description="meeting length")] = 90,
    earliest: Annotated[int, Query(ge=0, le=23, description="earliest start, hour")] = 8,
    latest: Annotated[int, Query(ge=1, le=24, description="latest end, hour")] = 21,
    days: Annotated[
        list[int] | None, Query(description="allowed weekdays, 0 = Monday (default Mon–Sat)")
    ] = None,
    rest_after_night_hours: Annotated[int, Query(ge=0, le=16)] = 8,
) -> MeetingSlotsOut:
    """The slot most of the branch can make in the period, the catch-up slot for those it
    misses (each absent member named with the shift that keeps them away), the members left
    for an online session, and the reasons in English and Chinese."""
    end = end or start + timedelta(days=27)
    if not 0 <= (end - start).days < MAX_PERIOD_DAYS:
        raise ApiError(
            422, "invalid_period", f"end must be within {MAX_PERIOD_DAYS} days after start"
        )
    try:
        rules = MeetingRules(
            minutes=minutes,
            earliest=earliest * 60,
            latest=latest * 60,
            days=tuple(sorted(set(days))) if days else MeetingRules().days,
            rest_after_night_minutes=rest_after_night_hours * 60,
        )
    except ValueError as error:
        raise ApiError(422, "invalid_rules", str(error)) from None
    with store.use() as opened:
        branch_key = _own_branch(opened, personal, caller.subject)
        return party.meeting_slots(opened, personal, branch_key, start, end, rules)


Months = Annotated[int, Query(ge=1, le=24, description="how many months, up to as_of's")]
AsOfDay = Annotated[date | None, Query(description="the last month's day (default today)")]


@router.get(
    "/branches/mine/assessment",
    response_model=AssessmentOut,
    responses=_NO_BRANCH,
)
def my_branch_assessment(
    caller: PartyOfficerDep,
    personal: PersonalDep,
    store: StoreDep,
    cache: AssessmentCacheDep,
    months: Months = 12,
    as_of: AsOfDay = None,
) -> AssessmentOut:
    """Per month: mastery gain, mandatory items completed and passed, the check-in-only
    share, meeting coverage and feedback resolution time, each with its trend against the
    previous three months and against the median of all branches; a month of fewer than five
    members (or a figure over fewer than five) is withheld."""
    wanted = party.recent_months(as_of or date.today(), months)
    with store.use() as opened:
        branch_key = _own_branch(opened, personal, caller.subject)
        frame = cache.frame(opened, wanted)
    return party.branch_rows(frame, branch_key)


@router.get(
    "/branches/mine/assessment.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **_NO_BRANCH},
)
def my_branch_assessment_csv(
    caller: PartyOfficerDep,
    personal: PersonalDep,
    store: StoreDep,
    cache: AssessmentCacheDep,
    months: Months = 12,
    as_of: AsOfDay = None,
) -> Response:
    """The same figures as the filing CSV: UTF-8 with a BOM, Chinese headers, withheld
    figures blank."""
    wanted = party.recent_months(as_of or date.today(), months)
    with store.use() as opened:
        branch_key = _own_branch(opened, personal, caller.subject)
        frame = cache.frame(opened, wanted)
        body = party.branch_export(frame, branch_key, opened, personal)
    filename = f"branch-assessment-{wanted[-1]}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
