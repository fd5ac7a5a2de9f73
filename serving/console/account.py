"""Every signed-in person's own account: changing their password. The current password is
checked as a sign-in is (a wrong one counts towards the lockout); a new one ends every
session of the person (its epoch is bumped, in every process) and starts a fresh one here."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from serving.console.sessions import SESSION_COOKIE, Session
from serving.console.users import MIN_PASSWORD_CHARS, change_password, session_epoch
from serving.console.web import (
    console_state,
    redirect,
    refusal,
    render,
    session_seal,
    set_cookie,
    signed_form,
    signed_in_with,
)
from serving.platform.auth import ROLES
from serving.runtime import Runtime

router = APIRouter()
MAX_PASSWORD_CHARS = 1024
OUTCOME_KEYS = {
    "refused": "password.wrong",
    "locked": "signin.locked",
    "too_short": "password.too_short",
    "mismatch": "password.mismatch",
}


def _form(
    request: Request, session: Session, *, status_code: int = 200, error: str = ""
) -> Response:
    return render(
        request,
        "password.html",
        session,
        status_code=status_code,
        error_key=OUTCOME_KEYS.get(error, ""),
        done=request.query_params.get("done") == "1",
        min_chars=MIN_PASSWORD_CHARS,
    )


@router.get("/password")
def password_form(request: Request) -> Response:
    session = signed_in_with(request, *ROLES)
    if isinstance(session, Response):
        return session
    return _form(request, session)


@router.post("/password")
async def password_change(request: Request) -> Response:
    signed = await signed_form(request, *ROLES)
    if isinstance(signed, Response):
        return signed
    session, form = signed
    current, new = form.get("current", ""), form.get("new", "")
    if new != form.get("confirm", ""):
        return _form(request, session, status_code=400, error="mismatch")
    if len(current) > MAX_PASSWORD_CHARS or len(new) > MAX_PASSWORD_CHARS:
        return _form(request, session, status_code=400, error="refused")
    runtime: Runtime = request.app.state.runtime
    store, personal = runtime.store, runtime.personal
    if store is None or personal is None:
        return refusal(request, session, 503, "refused.unavailable")
    console = console_state(request)

    seal = session_seal(request)
    if seal is None:
        return refusal(request, session, 503, "refused.unavailable")

    def check() -> tuple[str, int]:
        with store.use() as opened:
            outcome = change_password(
                opened, personal, console.settings, session.subject, current, new
            )
            return outcome, session_epoch(opened, personal, session.subject)

    outcome, epoch = await run_in_threadpool(check)
    if outcome != "ok":
        return _form(
            request, session, status_code=401 if outcome != "too_short" else 400, error=outcome
        )
    fresh = seal.start(session.subject, session.role, epoch, console.clock())
    response = redirect("/console/password?done=1")
    set_cookie(response, request, SESSION_COOKIE, seal.seal(fresh))
    return response
