"""Problem reports in the console: a member submits one (optionally anonymous) and follows
its status; the roles reports are routed to work their queue and move a report through its
states with CSRF-protected forms.

The same service functions as ``/v1/feedback`` (``serving.jobs.feedback``), so the same
rules hold: a member sees only their own reports (another's id is a 404, as if absent), a
handler sees the reports routed to their role (a party officer also reads any report, for the
review), and no page a handler opens holds the reporter's identity: ``ReportView`` has none to
show. Forms are validated by the API's own request schemas.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from core.security import PersonalData
from serving.api.schemas.feedback import MoveIn, ReportIn
from serving.console.sessions import Session
from serving.console.web import redirect, refusal, render, signed_form, signed_in_with
from serving.jobs import feedback as jobs
from serving.live.ingest import push_report
from serving.platform.shared_store import SharedStore
from serving.runtime import Runtime
from store.schema import FEEDBACK_KINDS

router = APIRouter()
MEMBER = "member"
HANDLERS = ("procurement_manager", "auditor", "party_officer")
REPORT_ID = Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")
QUEUE_PAGE = 100
# the moves a form offers from each state (the service refuses any other)
NEXT_STATES = {state: sorted(targets) for state, targets in jobs.TRANSITIONS.items()}


def _ready(request: Request) -> tuple[SharedStore, PersonalData] | None:
    """The store and the personal-data helpers, or None while the service is not ready."""
    runtime: Runtime = request.app.state.runtime
    if runtime.store is None or runtime.personal is None:
        return None
    return runtime.store, runtime.personal


def _feedback(request: Request) -> jobs.FeedbackState:
    state: jobs.FeedbackState = request.app.state.feedback
    return state


# --------------------------------------------------------------------------------------------
# Members: submit and follow


def _my_reports_page(
    request: Request,
    session: Session,
    *,
    status_code: int = 200,
    error_key: str = "",
    form: dict[str, str] | None = None,
) -> Response:
    ready = _ready(request)
    if ready is None:
        return render(request, "feedback_mine.html", session, status="unavailable")
    store, personal = ready
    with store.use() as opened:
        reports = jobs.own_reports(opened, personal, session)
    return render(
        request,
        "feedback_mine.html",
        session,
        status_code=status_code,
        status="ok",
        reports=reports,
        error_key=error_key,
        form=form or {},
        submitted=request.query_params.get("submitted", ""),
    )


@router.get("/reports")
def my_reports(request: Request) -> Response:
    session = signed_in_with(request, MEMBER)
    if isinstance(session, Response):
        return session
    return _my_reports_page(request, session)


def _submission(form: dict[str, str]) -> jobs.Submission:
    """The form as the API's ``ReportIn`` would take it (blank optional fields omitted)."""
    values: dict[str, Any] = {
        name: form[name].strip()
        for name in ("ocid", "supplier_id", "category")
        if form.get(name, "").strip()
    }
    body = ReportIn.model_validate(
        {"text": form.get("text", ""), "anonymous": form.get("anonymous") == "on", **values}
    )
    return jobs.Submission(**body.model_dump())


@router.post("/reports")
async def submit_report(request: Request) -> Response:
    signed = await signed_form(request, MEMBER)
    if isinstance(signed, Response):
        return signed
    session, form = signed
    ready = _ready(request)
    if ready is None:
        return render(request, "feedback_mine.html", session, status="unavailable")
    try:
        submission = _submission(form)
    except ValidationError:
        return await run_in_threadpool(
            _my_reports_page,
            request,
            session,
            status_code=400,
            error_key="feedback.invalid",
            form=form,
        )
    feedback = _feedback(request)
    store, personal = ready

    def submit() -> jobs.ReportView:
        with store.use() as opened:
            view = jobs.submit_report(
                opened,
                personal,
                feedback.settings,
                session,
                submission,
                classify=feedback.classify,
            )
            linked = jobs.linked_row(opened, view.report_id)
        push_report(request.app.state, linked)
        return view

    view = await run_in_threadpool(submit)
    return redirect(f"/console/reports/{view.report_id}?submitted=1")


@router.get("/reports/{report_id}")
def my_report(request: Request, report_id: str = REPORT_ID) -> Response:
    session = signed_in_with(request, MEMBER)
    if isinstance(session, Response):
        return session
    return _report_page(request, session, report_id, "feedback_report.html")


# --------------------------------------------------------------------------------------------
# Handlers: the queue and the moves


@router.get("/feedback")
def queue(request: Request) -> Response:
    session = signed_in_with(request, *HANDLERS)
    if isinstance(session, Response):
        return session
    ready = _ready(request)
    if ready is None:
        return render(request, "feedback_queue.html", session, status="unavailable")
    store, personal = ready
    state = request.query_params.get("state", "")
    shown_state = state if state in jobs.STATES else ""
    with store.use() as opened:
        reports, total = jobs.handler_reports(
            opened,
            personal,
            session,
            state=shown_state or None,
            limit=QUEUE_PAGE,
            offset=0,
        )
    return render(
        request,
        "feedback_queue.html",
        session,
        status="ok",
        reports=reports,
        total=total,
        states=jobs.STATES,
        shown_state=shown_state,
    )


def _report_page(
    request: Request,
    session: Session,
    report_id: str,
    template: str,
    *,
    status_code: int = 200,
    error_key: str = "",
) -> Response:
    ready = _ready(request)
    if ready is None:
        return render(request, template, session, status="unavailable")
    store, personal = ready
    try:
        with store.use() as opened:
            view, events = jobs.report_for(opened, personal, session, report_id)
    except jobs.ReportNotFoundError:
        return refusal(request, session, 404, "refused.not_found")
    return render(
        request,
        template,
        session,
        status_code=status_code,
        status="ok",
        report=view,
        events=events,
        moves=_moves(session, view),
        kinds=FEEDBACK_KINDS,
        error_key=error_key,
        submitted=request.query_params.get("submitted", ""),
    )


def _moves(session: Session, view: jobs.ReportView) -> list[str]:
    """The states the viewer may move the report to: resolving is the handling role's,
    review and reopening also a party officer's."""
    allowed = []
    for target in NEXT_STATES.get(view.state, []):
        roles = (
            {view.route_role} if target == jobs.RESOLVED else {view.route_role, jobs.REVIEWER_ROLE}
        )
        if session.role in roles:
            allowed.append(target)
    return allowed


@router.get("/feedback/{report_id}")
def handler_report(request: Request, report_id: str = REPORT_ID) -> Response:
    session = signed_in_with(request, *HANDLERS)
    if isinstance(session, Response):
        return session
    return _report_page(request, session, report_id, "feedback_handle.html")


@router.post("/feedback/{report_id}/state")
async def move(request: Request, report_id: str = REPORT_ID) -> Response:
    signed = await signed_form(request, *HANDLERS)
    if isinstance(signed, Response):
        return signed
    session, form = signed
    ready = _ready(request)
    if ready is None:
        return render(request, "feedback_handle.html", session, status="unavailable")
    store, personal = ready
    try:
        body = MoveIn.model_validate(
            {
                "to_state": form.get("to_state", ""),
                "note": form.get("note", "").strip() or None,
                "handler_kind": form.get("handler_kind") or None,
            }
        )
    except ValidationError:
        return await run_in_threadpool(
            _report_page,
            request,
            session,
            report_id,
            "feedback_handle.html",
            status_code=400,
            error_key="feedback.invalid",
        )

    def move_it() -> str:
        try:
            with store.use() as opened:
                jobs.move_report(
                    opened,
                    personal,
                    session,
                    report_id,
                    body.to_state,
                    note=body.note,
                    handler_kind=body.handler_kind,
                )
                linked = jobs.linked_row(opened, report_id)
        except jobs.ReportNotFoundError:
            return "not_found"
        except jobs.NotYourReportError:
            return "forbidden"
        except jobs.InvalidTransitionError:
            return "conflict"
        if body.handler_kind is not None:
            push_report(request.app.state, linked)
        return "moved"

    outcome = await run_in_threadpool(move_it)
    if outcome == "not_found":
        return refusal(request, session, 404, "refused.not_found")
    if outcome in ("forbidden", "conflict"):
        return await run_in_threadpool(
            _report_page,
            request,
            session,
            report_id,
            "feedback_handle.html",
            status_code=403 if outcome == "forbidden" else 409,
            error_key=f"feedback.{outcome}",
        )
    return redirect(f"/console/feedback/{report_id}#history")
