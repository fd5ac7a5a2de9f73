"""The party officer's page: their own branch's mastery by knowledge point domain, the share
of check-in-only study, mandatory completion; a branch under five members is suppressed, as
``GET /v1/branches/mine/mastery`` does (the same function, ``learning_answers.branch_mastery``,
on the same branch: the officer's own)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from serving.console.web import render, signed_in_with
from serving.jobs import learning_answers
from serving.jobs.branch_study import branch_study
from serving.jobs.learning import LearningState
from serving.runtime import Runtime
from store.queries import learning as learning_queries

router = APIRouter()
ROLE = "party_officer"


@router.get("/branch")
def branch(request: Request) -> Response:
    session = signed_in_with(request, ROLE)
    if isinstance(session, Response):
        return session
    runtime: Runtime = request.app.state.runtime
    learning: LearningState = request.app.state.learning
    if runtime.store is None or runtime.personal is None or learning.study is None:
        return render(request, "branch.html", session, status="unavailable")
    own_key = runtime.personal.member_key(session.subject)
    with runtime.store.use() as opened:
        branch_key = learning_queries.branch_of_member(opened, own_key)
        keys = [] if branch_key is None else learning_queries.members_of_branch(opened, branch_key)
    if branch_key is None:
        return render(request, "branch.html", session, status="no_branch")
    as_of = learning_answers.utc_naive(None)
    figures = learning_answers.branch_mastery(learning.study, keys, as_of)
    detail = branch_study(learning.study, keys, as_of)
    return render(request, "branch.html", session, status="ok", figures=figures, detail=detail)
