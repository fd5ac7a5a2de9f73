"""One JSON shape for every error the service returns.

``{"error": {"code": ..., "message": ..., "details": [...], "request_id": ...}}``: codes are
stable strings clients may branch on; messages are for people; details never echo the input
(a rejected body may hold personal data).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

REQUEST_ID_STATE_KEY = "request_id"

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
    return JSONResponse(body.model_dump(mode="json"), status_code=status_code, headers=headers)


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
    turned into ``internal`` errors by ``serving.context.RequestContextMiddleware``."""
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler)
    app.add_exception_handler(RequestValidationError, _validation_exception_handler)
