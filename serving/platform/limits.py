"""Request-body size limit as a pure ASGI middleware.

One limit for every path, except paths under a prefix of ``path_limits`` (the ingest route
streams files to disk and takes far larger bodies).

A declared ``Content-Length`` above the limit is refused before the app runs. Bodies without
one (``Transfer-Encoding: chunked``) are counted as they stream in: once the count passes the
limit, reading raises a 413 ``HTTPException`` (FastAPI re-raises those from body parsing, so
the app's error handler renders it), and if it escapes to here unanswered we answer it.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.platform.errors import error_response


class PayloadTooLarge(HTTPException):
    def __init__(self, max_body_bytes: int) -> None:
        super().__init__(413, f"the request body is larger than {max_body_bytes} bytes")


class BodyLimitMiddleware:
    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, path_limits: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.default_max_body_bytes = max_body_bytes
        self.path_limits = dict(path_limits or {})

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.path_limits.items():
            if path.startswith(prefix):
                return limit
        return self.default_max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_body_bytes = self.limit_for(str(scope.get("path", "")))
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.isdigit():
                response = error_response(scope, 400, "bad_request", "invalid Content-Length")
                await response(scope, receive, send)
                return
            if int(declared) > max_body_bytes:
                too_large = PayloadTooLarge(max_body_bytes)
                response = error_response(scope, 413, "payload_too_large", str(too_large.detail))
                await response(scope, receive, send)
                return

        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_body_bytes:
                    raise PayloadTooLarge(max_body_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except PayloadTooLarge as too_large:
            if response_started:
                raise
            response = error_response(scope, 413, "payload_too_large", str(too_large.detail))
            await response(scope, receive, send)
