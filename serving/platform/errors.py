"""One JSON shape for every error the service returns.

``{"error": {"code": ..., "message": ..., "details": [...], "request_id": ...}}``: codes are
stable strings clients may branch on; messages are for people; details never echo the input
(a rejected body may hold personal data).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

REQUEST_ID_STATE_KEY = "request_id"
LONE_SURROGATE = re.compile("[\ud800-\udfff]")

_CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal",
    503: "service_unavailable",
}


# What each error status means on any route; routes name the ones they can answer
# (``documented``), with their own wording where it says more.
ERROR_DESCRIPTIONS = {
    400: "the body is not valid JSON (code malformed_json)",
    401: "missing, invalid, expired or revoked token",
    403: "the caller's role may not use this",
    404: "not found",
    409: "conflicts with what is stored",
    413: "the body is larger than the service accepts",
    415: "the body is not JSON (send Content-Type: application/json)",
    422: "invalid request: a parameter or the body breaks its schema",
    429: "too many requests: wait for Retry-After seconds",
    503: "not ready, or the model the route needs is not loaded",
}


def json_bytes(text: str) -> bytes:
    """``text`` as UTF-8; a lone surrogate (which has no UTF-8 form) becomes U+FFFD."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return LONE_SURROGATE.sub("\ufffd", text).encode("utf-8")


class SafeJSONResponse(JSONResponse):
    """A JSON response that never fails on what a string holds: a lone surrogate is sent as
    U+FFFD (requests holding one are refused; this guards text read from the store)."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return json_bytes(text)


class ErrorDetail(BaseModel):
    loc: list[str | int] = Field(default_factory=list)
    msg: str
    type: str


class ErrorBody(BaseModel):
    code: str = Field(examples=["not_found"])
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)
    request_id: str


class ErrorResponse(BaseModel):
    """The body of every 4xx and 5xx response."""

    error: ErrorBody


class ApiError(StarletteHTTPException):
    """An HTTP error with an explicit stable ``code`` (otherwise derived from the status)."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=message, headers=headers)
        self.code = code


def documented(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for ``statuses``, each with the error shape; ``descriptions``
    (``_404="no such alert"``) replace the shared wording."""
    return {
        status: {
            "model": ErrorResponse,
            "description": descriptions.get(f"_{status}", ERROR_DESCRIPTIONS[status]),
        }
        for status in statuses
    }


def code_for_status(status_code: int) -> str:
    return _CODE_BY_STATUS.get(status_code, "internal" if status_code >= 500 else "bad_request")


def request_id_of(scope: Scope) -> str:
    return str(scope.get("state", {}).get(REQUEST_ID_STATE_KEY, ""))


def error_response(
    scope: Scope,
    status_code: int,
    code: str,
    message: str,
    *,
    details: list[ErrorDetail] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(
        error=ErrorBody(
            code=code, message=message, details=details or [], request_id=request_id_of(scope)
        )
    )
    return SafeJSONResponse(body.model_dump(mode="json"), status_code=status_code, headers=headers)


async def _http_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = exc.code if isinstance(exc, ApiError) else code_for_status(exc.status_code)
    return error_response(
        request.scope, exc.status_code, code, str(exc.detail), headers=exc.headers
    )


async def _validation_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors: list[dict[str, Any]] = list(exc.errors())
    details = [
        ErrorDetail(loc=list(error.get("loc", ())), msg=str(error["msg"]), type=str(error["type"]))
        for error in errors
    ]
    if errors and all(error["type"] == "json_invalid" for error in errors):
        return error_response(
            request.scope, 400, "malformed_json", "the body is not valid JSON", details=details
        )
    return error_response(
        request.scope, 422, "validation_error", "the request is not valid", details=details
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route HTTP and validation errors into the shared shape. Unhandled exceptions are
    turned into ``internal`` errors by ``serving.platform.context.RequestContextMiddleware``."""
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler)
    app.add_exception_handler(RequestValidationError, _validation_exception_handler)
