"""The admin's page: the models answering (version, since when, the champion gate's verdict,
drift of live traffic), the latest ingestion run of each reader with its counts and the
reasons records were quarantined, the console's users with their roles, and token
revocation. A role change or a revocation ends the person's console sessions at once; a
revocation also voids their bearer tokens (``serving.platform.revocations``, as
``POST /v1/admin/revocations``)."""

from __future__ import annotations

from typing import get_args

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from serving.console.auditor import local_time
from serving.console.sessions import Session
from serving.console.users import end_sessions, set_role
from serving.console.web import (
    redirect,
    refusal,
    render,
    signed_form,
    signed_in_with,
)
from serving.jobs import console_reads
from serving.live.drift import DriftMonitor
from serving.live.swap import ModelBoard
from serving.platform.auth import ROLES
from serving.platform.revocations import RevocationReason
from serving.runtime import Runtime
from serving.settings import ServiceSettings
from store.queries.ingest_runs import latest_run_per_reader

router = APIRouter()
ROLE = "admin"
REASONS: tuple[str, ...] = get_args(RevocationReason)
MAX_SUBJECT_CHARS = 128


def _models(request: Request) -> list[dict[str, object]]:
    """Each model's readiness with its gate verdict and drift (None before enough traffic)."""
    state = request.app.state
    board: ModelBoard = state.models
    settings: ServiceSettings = state.settings
    readiness = [
        board.annotate(model)
        for model in (
            state.procurement.readiness(),
            state.esg.readiness(),
            *state.learning.readiness(),
        )
    ]
    monitor: DriftMonitor | None = getattr(state, "drift", None)
    drift = {item.model: item for item in monitor.drift()} if monitor is not None else {}
    uri = settings.resolved_mlflow_tracking_uri
    return [
        {
            "readiness": model,
            "gate": console_reads.gate_verdict(uri, model.name, model.version),
            "drift": drift.get(model.name),
        }
        for model in readiness
    ]


def _page(
    request: Request, session: Session, *, status_code: int = 200, notice: str = ""
) -> Response:
    runtime: Runtime = request.app.state.runtime
    if runtime.store is None or runtime.personal is None:
        return refusal(request, session, 503, "refused.unavailable")
    with runtime.store.use() as opened:
        runs = latest_run_per_reader(opened.connection)
        reasons = console_reads.quarantine_reasons(opened)
        users = console_reads.console_users(opened, runtime.personal)
    monitor: DriftMonitor | None = getattr(request.app.state, "drift", None)
    return render(
        request,
        "admin.html",
        session,
        status_code=status_code,
        models=_models(request),
        warning_psi=None if monitor is None else monitor.warning_psi,
        runs=runs,
        reasons=reasons,
        users=users,
        roles=ROLES,
        revocation_reasons=REASONS,
        notice=notice,
        local_time=local_time,
    )


@router.get("/admin")
def admin_page(request: Request) -> Response:
    session = signed_in_with(request, ROLE)
    if isinstance(session, Response):
        return session
    return _page(request, session, notice=request.query_params.get("done", "")[:20])


@router.post("/admin/revoke")
async def revoke(request: Request) -> Response:
    signed = await signed_form(request, ROLE)
    if isinstance(signed, Response):
        return signed
    session, form = signed
    subject = form.get("subject", "").strip()
    reason = form.get("reason", "")
    if not subject or len(subject) > MAX_SUBJECT_CHARS or reason not in REASONS:
        return await run_in_threadpool(
            lambda: _page(request, session, status_code=400, notice="invalid")
        )
    runtime: Runtime = request.app.state.runtime
    store, revocations = runtime.store, runtime.revocations
    if store is None or revocations is None:
        return refusal(request, session, 503, "refused.unavailable")

    personal = runtime.personal
    if personal is None:
        return refusal(request, session, 503, "refused.unavailable")

    def record() -> None:
        with store.use() as opened:
            revocations.revoke(opened, subject, session.subject, reason)  # type: ignore[arg-type]  # checked in REASONS
            end_sessions(opened, personal, subject, "revoked")

    await run_in_threadpool(record)
    return redirect("/console/admin?done=revoked")


@router.post("/admin/role")
async def change_role(request: Request) -> Response:
    signed = await signed_form(request, ROLE)
    if isinstance(signed, Response):
        return signed
    session, form = signed
    user_name = form.get("user_name", "").strip()
    role = form.get("role", "")
    if not user_name or len(user_name) > MAX_SUBJECT_CHARS or role not in ROLES:
        return await run_in_threadpool(
            lambda: _page(request, session, status_code=400, notice="invalid")
        )
    runtime: Runtime = request.app.state.runtime
    store, personal = runtime.store, runtime.personal
    if store is None or personal is None:
        return refusal(request, session, 503, "refused.unavailable")

    def record() -> bool:
        with store.use() as opened:
            return set_role(opened, personal, user_name, role)

    if not await run_in_threadpool(record):
        return await run_in_threadpool(
            lambda: _page(request, session, status_code=404, notice="no_user")
        )
    return redirect("/console/admin?done=role")
