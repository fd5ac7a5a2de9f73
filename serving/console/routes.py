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
from serving.console.users import SignIn, sign_in
from serving.console.web import (
    ROLE_HOMES,
    console_state,
    csrf_ok,
    posted_form,
    redirect,
    refusal,
    render,
    set_cookie,
    viewer,
)
from serving.platform.audit import mark_for_audit
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

    def check() -> SignIn:
        with store.use() as opened:
            return sign_in(opened, personal, console.settings, user_name, password)

    outcome = await run_in_threadpool(check)
    if outcome.outcome == "locked":
        return _signin_page(request, 401, "signin.locked")
    if outcome.outcome != "ok" or outcome.role is None:
        return _signin_page(request, 401, "signin.refused")
    mark_for_audit(request.scope["state"], user_name, outcome.role)
    token, _ = console.sessions.start(user_name, outcome.role, console.clock())
    response = redirect("/console")
    set_cookie(response, request, SESSION_COOKIE, token)
    set_cookie(response, request, SIGNIN_CSRF_COOKIE, "", max_age=0)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    session = viewer(request)
    if session is None:
        return redirect("/console/signin")
    if not csrf_ok(await posted_form(request), session):
        return refusal(request, session, 403, "refused.csrf")
    console_state(request).sessions.end(request.cookies.get(SESSION_COOKIE))
    response = redirect("/console/signin")
    set_cookie(response, request, SESSION_COOKIE, "", max_age=0)
    return response
