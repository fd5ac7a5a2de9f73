"""The member's page, phone first: today's suggestions with their reasons, their mastery by
knowledge point, and their mandatory items with deadlines (from the store, shown even while
the study models are not loaded). The page has no member in its address: it shows the
signed-in member's own record and nobody else's, so no address can be changed to reach
another member. ``?as_of=YYYY-MM-DD`` shows the page as at the end of that day (mandatory
items, suggestions and mastery alike), as the officer's assessment does; a malformed date,
today or a later day shows the page as it is now."""

from __future__ import annotations

import contextlib
from datetime import date, datetime, time

from fastapi import APIRouter, Request
from fastapi.responses import Response

from serving.api.schemas.learning import MasteryOut, RecommendationsOut
from serving.console.auditor import local_time
from serving.console.mandatory import Mandatory, member_mandatory
from serving.console.web import console_state, refusal, render, signed_in_with
from serving.jobs import learning_answers
from serving.jobs.learning import LearningState
from serving.platform.errors import ApiError
from serving.runtime import Runtime

router = APIRouter()
SUGGESTIONS = 5


def _page_moment(request: Request) -> tuple[datetime, datetime | None]:
    """(the moment the page shows, naive UTC; the ``as_of`` moment asked for, else None)."""
    now = console_state(request).clock()
    wanted = request.query_params.get("as_of")
    if wanted:
        with contextlib.suppress(ValueError):
            day = date.fromisoformat(wanted)
            if day < now.date():  # today or a later day: the page as it is now
                moment = datetime.combine(day, time.max)
                return moment, moment
    return now, None


@router.get("/me")
def my_page(request: Request) -> Response:
    session = signed_in_with(request, "member")
    if isinstance(session, Response):
        return session
    runtime: Runtime = request.app.state.runtime
    learning: LearningState = request.app.state.learning
    study = learning.study
    suggestions: RecommendationsOut | None = None
    mastery: MasteryOut | None = None
    mandatory: Mandatory | None = None
    status = "unavailable"
    employee_no = session.subject.strip()
    moment, as_of = _page_moment(request)
    if runtime.store is not None and runtime.personal is not None:
        key = str(runtime.personal.member_key(employee_no))
        with runtime.store.use() as opened:
            mandatory = member_mandatory(opened, key, moment)
    if study is not None and runtime.personal is not None:
        member_key = str(runtime.personal.member_key(employee_no))
        status = "no_record"
        if member_key in study.data.member_keys:
            try:
                suggestions = learning_answers.recommendations(
                    study, employee_no, member_key, k=SUGGESTIONS, minutes=None, as_of=as_of
                )
            except ApiError as error:  # 422: further back than the service replays
                if error.status_code != 422:
                    raise
                return refusal(request, session, 422, "refused.as_of")
            mastery = learning_answers.member_mastery(
                study, employee_no, member_key, learning_answers.utc_naive(as_of)
            )
            status = "ok"
    return render(
        request,
        "member.html",
        session,
        status=status,
        suggestions=suggestions,
        mastery=mastery,
        mandatory=mandatory,
        as_of=as_of.date().isoformat() if as_of else "",
        local_time=local_time,
    )
