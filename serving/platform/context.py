"""Outermost middleware: the request id, and the last word on unhandled exceptions.

The id comes from ``X-Request-ID`` when it looks like an id (so a caller or a proxy can follow
one request through logs and the audit log), else a fresh UUID; either way it is echoed back.
An exception nothing else handled becomes a 500 ``internal`` error without a stack trace; the
trace goes to the log with the request id.
"""

from __future__ import annotations

import logging
import re
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.platform.errors import REQUEST_ID_STATE_KEY, error_response

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
API_PREFIX = "/v1"
CONSOLE_PREFIX = "/console"
_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def _request_id(scope: Scope) -> str:
    offered = Headers(scope=scope).get(REQUEST_ID_HEADER)
    if offered is not None and _ACCEPTABLE_ID.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


def is_api_path(scope: Scope) -> bool:
    """Whether the request is for the authenticated API (``/v1``); everything else (health,
    metrics, the API docs) is public."""
    path = str(scope.get("path", ""))
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def is_console_path(scope: Scope) -> bool:
    """Whether the request is for the web console (``/console``: its own sign-in)."""
    path = str(scope.get("path", ""))
    return path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")


def serves_data(scope: Scope) -> bool:
    """Whether the response may carry data (the API and the console): such a request is
    answered only once its audit entry is written."""
    return is_api_path(scope) or is_console_path(scope)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})[REQUEST_ID_STATE_KEY] = request_id
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = request_id
                headers.setdefault("Cache-Control", "no-store")
                headers.setdefault("X-Content-Type-Options", "nosniff")
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            logger.exception("unhandled error in request %s", request_id)
            if response_started:
                raise
            response = error_response(scope, 500, "internal", "internal error")
            await response(scope, receive, send_with_headers)
