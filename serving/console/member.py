"""The member's page, phone first: today's suggestions with their reasons, their mastery by
knowledge point, and their mandatory items with deadlines (from the store, shown even while
the study models are not loaded). The page has no member in its address: it shows the
signed-in member's own record and nobody else's, so no address can be changed to reach
another member."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from serving.api.schemas.learning import MasteryOut, RecommendationsOut
from serving.console.auditor import local_time
from serving.console.mandatory import Mandatory, member_mandatory
from serving.console.web import console_state, render, signed_in_with
from serving.jobs import learning_answers
from serving.jobs.learning import LearningState
from serving.runtime import Runtime

router = APIRouter()
SUGGESTIONS = 5


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
    if runtime.store is not None and runtime.personal is not None:
        key = str(runtime.personal.member_key(employee_no))
        with runtime.store.use() as opened:
            mandatory = member_mandatory(opened, key, console_state(request).clock())
    if study is not None and runtime.personal is not None:
        member_key = str(runtime.personal.member_key(employee_no))
        status = "no_record"
        if member_key in study.data.member_keys:
            suggestions = learning_answers.recommendations(
                study, employee_no, member_key, k=SUGGESTIONS, minutes=None, as_of=None
            )
            mastery = learning_answers.member_mastery(
                study, employee_no, member_key, learning_answers.utc_naive(None)
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
        local_time=local_time,
    )
