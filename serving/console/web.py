"""What every console route uses: who is signed in, rendering a page in the reader's
language, reading a posted form, CSRF checks and redirects."""

from __future__ import annotations

from datetime import UTC
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from serving.console.i18n import LANGUAGES, Catalogue, choose_language
from serving.console.sessions import LANGUAGE_COOKIE, SESSION_COOKIE, Session, same_token
from serving.console.state import ConsoleState
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


def viewer(request: Request) -> Session | None:
    """The signed-in person of this request, else None; names them in the audit entry.

    A session whose subject's tokens were revoked after it began ends here (and, fail
    closed, none counts while revocations cannot be read)."""
    console = console_state(request)
    runtime: Runtime = request.app.state.runtime
    cookie = request.cookies.get(SESSION_COOKIE)
    session = console.sessions.find(cookie, console.clock())
    if session is not None:
        revoked = runtime.revocations is None or runtime.revocations.is_revoked(
            session.subject, session.started_at.replace(tzinfo=UTC)
        )
        if revoked:
            console.sessions.end(cookie)
            session = None
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
    session = signed_in_with(request, *roles)
    if isinstance(session, Response):
        return session
    form = await posted_form(request)
    if not csrf_ok(form, session):
        return refusal(request, session, 403, "refused.csrf")
    return session, form
