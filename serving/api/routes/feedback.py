"""Problem reports: members submit and follow their own; handlers work the reports routed to
their role; an administrator may read a named reporter's identity with a reason.

No route lists reports by reporter other than the caller's own (``/feedback/mine``), and no
response names a reporter except ``/reporter``, which records the reason and adds an entry
to the audit chain before answering.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from serving.api.schemas.common import Offset
from serving.api.schemas.feedback import (
    MoveIn,
    ReportDetail,
    ReportEvent,
    ReportIn,
    ReportList,
    ReportOut,
    RevealIn,
    RevealOut,
    State,
)
from serving.deps import AdminDep, AuditWriterDep, JsonBodyDep, PersonalDep, StoreDep
from serving.jobs import feedback as jobs
from serving.live.ingest import push_report
from serving.platform.audit import SUBJECT_NAMESPACE
from serving.platform.auth import Principal, require_roles
from serving.platform.errors import ApiError, documented, request_id_of

router = APIRouter(prefix="/feedback", tags=["feedback"])

ReporterDep = Annotated[Principal, Depends(require_roles("member"))]
HandlerDep = Annotated[
    Principal, Depends(require_roles("procurement_manager", "auditor", "party_officer"))
]
ReaderDep = Annotated[
    Principal, Depends(require_roles("member", "procurement_manager", "auditor", "party_officer"))
]
ReportId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


def _out(view: jobs.ReportView) -> ReportOut:
    return ReportOut.model_validate(view, from_attributes=True)


async def get_feedback_state(request: Request) -> jobs.FeedbackState:
    state: jobs.FeedbackState = request.app.state.feedback
    return state


FeedbackStateDep = Annotated[jobs.FeedbackState, Depends(get_feedback_state)]


@router.post("", response_model=ReportOut, status_code=201, responses=documented(400, 415))
def submit(
    request: Request,
    body: ReportIn,
    caller: ReporterDep,
    store: StoreDep,
    personal: PersonalDep,
    feedback: FeedbackStateDep,
    _json: JsonBodyDep,
) -> ReportOut:
    with store.use() as opened:
        view = jobs.submit_report(
            opened,
            personal,
            feedback.settings,
            caller,
            jobs.Submission(**body.model_dump()),
            classify=feedback.classify,
        )
        linked = jobs.linked_row(opened, view.report_id)
    push_report(request.app.state, linked)
    return _out(view)


@router.get("/mine", response_model=ReportList)
def mine(caller: ReporterDep, store: StoreDep, personal: PersonalDep) -> ReportList:
    with store.use() as opened:
        views = jobs.own_reports(opened, personal, caller)
    return ReportList(items=[_out(view) for view in views], total=len(views))


@router.get("", response_model=ReportList)
def inbox(
    caller: HandlerDep,
    store: StoreDep,
    personal: PersonalDep,
    state: Annotated[State | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[Offset, Query()] = 0,
) -> ReportList:
    """The reports routed to the caller's role, oldest due first."""
    with store.use() as opened:
        views, total = jobs.handler_reports(
            opened, personal, caller, state=state, limit=limit, offset=offset
        )
    return ReportList(items=[_out(view) for view in views], total=total)


@router.get(
    "/{report_id}", response_model=ReportDetail, responses=documented(404, _404="no such report")
)
def detail(
    report_id: ReportId, caller: ReaderDep, store: StoreDep, personal: PersonalDep
) -> ReportDetail:
    try:
        with store.use() as opened:
            view, events = jobs.report_for(opened, personal, caller, report_id)
    except jobs.ReportNotFoundError as error:
        raise ApiError(404, "not_found", "no such report") from error
    return ReportDetail(report=_out(view), events=[ReportEvent(**event) for event in events])


@router.post(
    "/{report_id}/state",
    response_model=ReportOut,
    responses=documented(400, 404, 409, 415, _404="no such report", _409="transition not allowed"),
)
def move(
    request: Request,
    report_id: ReportId,
    body: MoveIn,
    caller: HandlerDep,
    store: StoreDep,
    personal: PersonalDep,
    _json: JsonBodyDep,
) -> ReportOut:
    try:
        with store.use() as opened:
            view = jobs.move_report(
                opened,
                personal,
                caller,
                report_id,
                body.to_state,
                note=body.note,
                handler_kind=body.handler_kind,
            )
            linked = jobs.linked_row(opened, report_id)
    except jobs.ReportNotFoundError as error:
        raise ApiError(404, "not_found", "no such report") from error
    except jobs.NotYourReportError as error:
        raise ApiError(403, "forbidden", str(error)) from error
    except jobs.InvalidTransitionError as error:
        raise ApiError(409, "conflict", str(error)) from error
    if body.handler_kind is not None:
        push_report(request.app.state, linked)
    return _out(view)


@router.post(
    "/{report_id}/reporter",
    response_model=RevealOut,
    responses=documented(400, 404, 415, _404="no such report, or it was anonymous"),
)
def reveal(
    report_id: ReportId,
    body: RevealIn,
    caller: AdminDep,
    store: StoreDep,
    personal: PersonalDep,
    audit: AuditWriterDep,
    feedback: FeedbackStateDep,
    request: Request,
    _json: JsonBodyDep,
) -> RevealOut:
    """The identity of a named reporter, for an administrator who states why. The reason is
    kept (encrypted) with every attempt, and the audit chain gets its own entry for it."""
    minimum = feedback.settings.min_reason_chars
    if len(body.reason.strip()) < minimum:
        raise ApiError(422, "validation_error", f"a reason of {minimum}+ characters is required")
    audit.write(
        {
            "subject_key": personal.pseudonymiser.pseudonym(SUBJECT_NAMESPACE, caller.subject),
            "role": caller.role,
            "action": "REVEAL_REPORTER",
            "resource": f"/v1/feedback/{report_id}/reporter",
            "status_code": 0,
            "request_id": request_id_of(request.scope),
        }
    )
    try:
        with store.use() as opened:
            employee_no = jobs.reveal_reporter(opened, personal, caller, report_id, body.reason)
    except (jobs.ReportNotFoundError, jobs.NoIdentityError) as error:
        raise ApiError(404, "not_found", "no such report, or no identity stored") from error
    return RevealOut(report_id=report_id, employee_no=employee_no)
