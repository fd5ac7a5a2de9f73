"""What every console route uses: who is signed in, rendering a page in the reader's
language, reading a posted form, CSRF checks and redirects."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode

import duckdb
from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from serving.console.i18n import LANGUAGES, Catalogue, choose_language
from serving.console.sessions import (
    LANGUAGE_COOKIE,
    REFRESHED_COOKIE_STATE,
    SESSION_COOKIE,
    Session,
    SessionSeal,
    same_token,
)
from serving.console.state import ConsoleState
from serving.console.users import session_ended
from serving.platform.audit import mark_for_audit
from serving.runtime import Runtime

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 50
# each role's pages in the console (the first is its home); the integration account has
# none and lands on /console/home
ROLE_PAGES: dict[str, tuple[tuple[str, str], ...]] = {
    "auditor": (("/console/alerts", "nav.alerts"), ("/console/feedback", "nav.feedback")),
    "member": (("/console/me", "nav.me"), ("/console/reports", "nav.reports")),
    "procurement_manager": (
        ("/console/tenders", "nav.tenders"),
        ("/console/feedback", "nav.feedback"),
    ),
    "esg_analyst": (("/console/suppliers", "nav.suppliers"), ("/console/esg-report", "nav.report")),
    "party_officer": (
        ("/console/branch", "nav.branch"),
        ("/console/meetings", "nav.meetings"),
        ("/console/assessment", "nav.assessment"),
        ("/console/feedback", "nav.feedback"),
    ),
    "security_auditor": (("/console/audit-log", "nav.audit_log"),),
    "admin": (("/console/admin", "nav.admin"),),
}
ROLE_HOMES = {role: pages[0][0] for role, pages in ROLE_PAGES.items()}


def console_state(request: Request) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


def session_seal(request: Request) -> SessionSeal | None:
    """The seal of session cookies (None while the keyring could not be read)."""
    runtime: Runtime = request.app.state.runtime
    if runtime.keyring is None:
        return None
    return console_state(request).seal(runtime.keyring.token_signing_key)


def _live_session(request: Request, *, refresh: bool) -> Session | None:
    """The session of the request's cookie when it is within its timeouts and the store has
    not ended it; fail closed while the store cannot be read. ``refresh``: the request is the
    person's doing, so the answer carries the cookie with ``last_seen_at`` moved on."""
    seal = session_seal(request)
    if seal is None:
        return None
    session = seal.open(request.cookies.get(SESSION_COOKIE), console_state(request).clock())
    if session is None:
        return None
    runtime: Runtime = request.app.state.runtime
    store, personal = runtime.store, runtime.personal
    if store is None or personal is None:
        return None
    try:
        with store.use() as opened:
            ended = session_ended(opened, personal, session)
    except duckdb.Error:
        return None
    if ended:
        return None
    if refresh:
        request.scope.setdefault("state", {})[REFRESHED_COOKIE_STATE] = cookie_header(
            request, SESSION_COOKIE, seal.seal(session)
        )
    return session


def viewer(request: Request, *, refresh: bool = True) -> Session | None:
    """The signed-in person of this request, else None; names them in the audit entry. Reads
    the store: call it from a plain ``def`` route or the threadpool. The answer carries the
    session's cookie sealed afresh (``last_seen_at`` moved on) for the idle timeout, unless
    ``refresh`` is off (a page's script asking in the background is not the person's doing:
    a queue left open must still time out)."""
    session = _live_session(request, refresh=refresh)
    audit_state = request.scope.setdefault("state", {})
    if session is None:
        mark_for_audit(audit_state)
    else:
        mark_for_audit(audit_state, session.subject, session.role)
    return session


def language(request: Request) -> str:
    return choose_language(request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE))


def catalogue(request: Request) -> Catalogue:
    return console_state(request).catalogues[language(request)]


def _switch_url(request: Request, to: str) -> str:
    """This page's URL in language ``to`` (its other query parameters kept)."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return f"{request.url.path}?{urlencode([*params, ('lang', to)])}"


def cookie_header(request: Request, name: str, value: str, **kwargs: Any) -> bytes:
    """The ``Set-Cookie`` value ``set_cookie`` would add."""
    carrier = Response()
    set_cookie(carrier, request, name, value, **kwargs)
    return next(v for k, v in carrier.raw_headers if k == b"set-cookie")


def set_cookie(response: Response, request: Request, name: str, value: str, **kwargs: Any) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        secure=console_state(request).settings.secure_cookies,
        path="/console",
        **kwargs,
    )


def render(
    request: Request,
    template: str,
    session: Session | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> Response:
    """The page ``template`` in the reader's language; a ``lang`` parameter also sets the
    language cookie, so the choice follows the reader to the next page."""
    lang = language(request)
    words = console_state(request).catalogues[lang]
    other = next(code for code in LANGUAGES if code != lang)
    response = console_state(request).templates.TemplateResponse(
        request,
        template,
        {
            "t": words.text,
            "lang": lang,
            "other_lang": other,
            "switch_url": _switch_url(request, other),
            "session": session,
            "csrf_token": session.csrf_token if session else "",
            "nav_pages": ROLE_PAGES.get(session.role, ()) if session else (),
            **context,
        },
        status_code=status_code,
    )
    if request.query_params.get("lang") in LANGUAGES:
        set_cookie(response, request, LANGUAGE_COOKIE, lang, max_age=365 * 24 * 3600)
    return response


def redirect(url: str) -> RedirectResponse:
    """303: after a post, the browser gets the next page with GET."""
    return RedirectResponse(url, status_code=303)


def refusal(request: Request, session: Session | None, status_code: int, key: str) -> Response:
    """A page saying why the request was refused (403 role or CSRF, 404...)."""
    return render(request, "refused.html", session, status_code=status_code, message_key=key)


def signed_in_with(request: Request, *roles: str) -> Session | Response:
    """The viewer when their role is one of ``roles``; else the sign-in page (nobody) or a
    403 page (another role)."""
    session = viewer(request)
    if session is None:
        return redirect("/console/signin")
    if session.role not in roles:
        return refusal(request, session, 403, "refused.role")
    return session


async def posted_form(request: Request) -> dict[str, str]:
    """The fields of an urlencoded form (the first value of each); empty for any other body."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != FORM_MEDIA_TYPE:
        return {}
    body = (await request.body()).decode("utf-8", errors="replace")
    try:
        fields = parse_qs(body, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:  # more fields than any console form has
        return {}
    return {name: values[0] for name, values in fields.items() if values}


def csrf_ok(form: dict[str, str], session: Session) -> bool:
    return same_token(form.get("csrf"), session.csrf_token)


async def signed_form(request: Request, *roles: str) -> tuple[Session, dict[str, str]] | Response:
    """The viewer and their posted form when their role is one of ``roles`` and the form
    carries their CSRF token; else the page ``signed_in_with`` gives, or a 403 (no token)."""
    session = await run_in_threadpool(signed_in_with, request, *roles)
    if isinstance(session, Response):
        return session
    form = await posted_form(request)
    if not csrf_ok(form, session):
        return refusal(request, session, 403, "refused.csrf")
    return session, form
