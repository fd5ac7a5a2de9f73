"""The member's page, phone first: today's suggestions with their reasons, and their mastery
by knowledge point. The page has no member in its address: it shows the signed-in member's
own record and nobody else's, so no address can be changed to reach another member."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from serving.api.schemas.learning import MasteryOut, RecommendationsOut
from serving.console.web import render, signed_in_with
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
    status = "unavailable"
    if study is not None and runtime.personal is not None:
        employee_no = session.subject.strip()
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
        request, "member.html", session, status=status, suggestions=suggestions, mastery=mastery
    )
