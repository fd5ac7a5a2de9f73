"""Security headers of every console response (pages, static files, refusals).

The Content-Security-Policy allows scripts, styles, images and fonts from the service
itself only, no inline script and no inline style (``style-src 'self'`` without
``'unsafe-inline'`` refuses ``style=`` attributes too), forms that post only to the service,
and no framing (clickjacking). Scripts are files under ``/console/static``; every page works
without them.

The middleware also hands the browser the session cookie ``viewer`` sealed afresh for this
request (``REFRESHED_COOKIE_STATE``), unless the route set the session cookie itself
(sign-in, sign-out, a new password): that is how a session's idle timeout moves on.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.console.sessions import REFRESHED_COOKIE_STATE, SESSION_COOKIE
from serving.platform.context import is_console_path

_SESSION_COOKIE_PREFIX = f"{SESSION_COOKIE}=".encode()

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class ConsoleHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_console_path(scope):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                _add_refreshed_cookie(scope, message)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _add_refreshed_cookie(scope: Scope, start: Message) -> None:
    refreshed = scope.get("state", {}).get(REFRESHED_COOKIE_STATE)
    if refreshed is None:
        return
    raw = start.setdefault("headers", [])
    if any(k == b"set-cookie" and v.startswith(_SESSION_COOKIE_PREFIX) for k, v in raw):
        return
    start["headers"] = [*raw, (b"set-cookie", refreshed)]
