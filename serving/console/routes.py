"""The console's routes: sign-in, sign-out, the home of each role; each role's pages are in
their own module (``auditor``, ``member``, ``manager``, ``analyst``, ``officer``,
``security``, ``admin``; ``account`` for everyone's password; ``party`` for the officer's
meeting slots and assessment, ``feedback`` for problem reports).

Sign-in is protected against login CSRF by a double-submit token: the form's hidden field
must equal an HttpOnly, SameSite=Strict cookie set with the form. Every form after sign-in
carries the session's own CSRF token. Routes that touch the store are plain ``def`` or run
their work in the threadpool: argon2 and DuckDB block.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from serving.console import (
    account,
    admin,
    analyst,
    auditor,
    feedback,
    manager,
    member,
    officer,
    party,
    security,
)
from serving.console.sessions import SESSION_COOKIE, SIGNIN_CSRF_COOKIE, same_token
from serving.console.users import SignIn, end_sessions, record_signout, session_epoch, sign_in
from serving.console.web import (
    ROLE_HOMES,
    console_state,
    posted_form,
    redirect,
    refusal,
    render,
    session_seal,
    set_cookie,
    signed_form,
    viewer,
)
from serving.platform.audit import mark_for_audit
from serving.platform.auth import ROLES
from serving.runtime import Runtime

MAX_USER_NAME_CHARS = 128
MAX_PASSWORD_CHARS = 1024

router = APIRouter(prefix="/console", include_in_schema=False)
router.include_router(auditor.router)
router.include_router(member.router)
for pages in (manager, analyst, officer, security, admin, account, party, feedback):
    router.include_router(pages.router)


@router.get("")
def home_redirect(request: Request) -> Response:
    session = viewer(request)
    if session is None:
        return redirect("/console/signin")
    return redirect(ROLE_HOMES.get(session.role, "/console/home"))


@router.get("/home")
def home(request: Request) -> Response:
    """The page of a role whose pages are not built yet: who they are, what is coming."""
    session = viewer(request)
    if session is None:
        return redirect("/console/signin")
    return render(request, "home.html", session)


def _signin_page(request: Request, status_code: int = 200, error_key: str = "") -> Response:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "signin.html",
        None,
        status_code=status_code,
        signin_csrf=token,
        error_key=error_key,
    )
    set_cookie(response, request, SIGNIN_CSRF_COOKIE, token)
    return response


@router.get("/signin")
def signin_form(request: Request) -> Response:
    if viewer(request) is not None:
        return redirect("/console")
    return _signin_page(request)


@router.post("/signin")
async def signin(request: Request) -> Response:
    mark_for_audit(request.scope.setdefault("state", {}))
    form = await posted_form(request)
    if not same_token(form.get("csrf"), request.cookies.get(SIGNIN_CSRF_COOKIE) or "\x00"):
        return _signin_page(request, 403, "signin.expired")
    user_name = form.get("user_name", "").strip()
    password = form.get("password", "")
    if not user_name or len(user_name) > MAX_USER_NAME_CHARS or len(password) > MAX_PASSWORD_CHARS:
        return _signin_page(request, 401, "signin.refused")
    runtime: Runtime = request.app.state.runtime
    if runtime.store is None or runtime.personal is None:
        return _signin_page(request, 503, "signin.unavailable")
    console = console_state(request)
    store, personal = runtime.store, runtime.personal

    seal = session_seal(request)
    if seal is None:
        return _signin_page(request, 503, "signin.unavailable")

    def check() -> tuple[SignIn, int]:
        with store.use() as opened:
            outcome = sign_in(opened, personal, console.settings, user_name, password)
            return outcome, session_epoch(opened, personal, user_name)

    outcome, epoch = await run_in_threadpool(check)
    if outcome.outcome == "locked":
        return _signin_page(request, 401, "signin.locked")
    if outcome.outcome != "ok" or outcome.role is None:
        return _signin_page(request, 401, "signin.refused")
    mark_for_audit(request.scope["state"], user_name, outcome.role)
    session = seal.start(user_name, outcome.role, epoch, console.clock())
    response = redirect("/console")
    set_cookie(response, request, SESSION_COOKIE, seal.seal(session))
    set_cookie(response, request, SIGNIN_CSRF_COOKIE, "", max_age=0)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    """Ends this session (``everywhere=1``: every session of the person, in every browser)."""
    signed = await signed_form(request, *ROLES)
    if isinstance(signed, Response):
        return signed
    session, form = signed
    runtime: Runtime = request.app.state.runtime
    store, personal = runtime.store, runtime.personal
    if store is None or personal is None:
        return refusal(request, session, 503, "refused.unavailable")
    settings = console_state(request).settings
    everywhere = form.get("everywhere") == "1"

    def record() -> None:
        with store.use() as opened:
            if everywhere:
                end_sessions(opened, personal, session.subject, "signout_everywhere")
            else:
                record_signout(opened, session, settings)

    await run_in_threadpool(record)
    response = redirect("/console/signin")
    set_cookie(response, request, SESSION_COOKIE, "", max_age=0)
    return response
