from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field
from starlette.types import Message, Receive, Scope, Send

from core.settings import Keyring
from serving.app import create_app
from serving.platform.limits import BodyLimitMiddleware
from serving.settings import ServiceSettings
from tests.serving.conftest import MAX_BODY_BYTES, bearer


class Note(BaseModel):
    text: str = Field(max_length=50)


def _test_routes() -> APIRouter:
    """Routes that read a body or fail, to exercise the app-wide error handling."""
    router = APIRouter()

    @router.post("/test/notes")
    async def echo(note: Note) -> Note:
        return note

    @router.get("/test/boom")
    def boom() -> None:
        raise RuntimeError("secret detail that must not leak")

    return router


@pytest.fixture
def error_client(service_settings: ServiceSettings) -> Iterator[TestClient]:
    app: FastAPI = create_app(service_settings)
    app.include_router(_test_routes())
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _error(response: object) -> dict[str, object]:
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details", "request_id"}
    assert body["error"]["request_id"] == response.headers["x-request-id"]  # type: ignore[attr-defined]
    return body["error"]


def test_unknown_route_is_404(error_client: TestClient) -> None:
    response = error_client.get("/v2/nothing")
    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"


def test_wrong_method_is_405_with_allow(error_client: TestClient) -> None:
    response = error_client.post("/healthz")
    assert response.status_code == 405
    assert _error(response)["code"] == "method_not_allowed"
    assert "GET" in response.headers["allow"]


def test_invalid_query_is_422_with_details(
    error_client: TestClient, service_keyring: Keyring
) -> None:
    reader = bearer(service_keyring, "sec.wang", "security_auditor")
    response = error_client.get("/v1/audit-log?limit=0&offset=-1", headers=reader)
    assert response.status_code == 422
    error = _error(response)
    assert error["code"] == "validation_error"
    locs = [detail["loc"] for detail in error["details"]]  # type: ignore[attr-defined]
    assert ["query", "limit"] in locs
    assert ["query", "offset"] in locs
    assert all(set(d) == {"loc", "msg", "type"} for d in error["details"])  # type: ignore[attr-defined]


def test_invalid_body_is_422_without_echoing_input(error_client: TestClient) -> None:
    response = error_client.post("/test/notes", json={"text": "电话13800000001" * 10})
    assert response.status_code == 422
    assert "13800000001" not in response.text


def test_malformed_json_is_400(error_client: TestClient) -> None:
    response = error_client.post(
        "/test/notes", content=b'{"text": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert _error(response)["code"] == "malformed_json"


def test_body_over_limit_by_content_length_is_413(error_client: TestClient) -> None:
    response = error_client.post("/test/notes", json={"text": "x" * (MAX_BODY_BYTES + 1)})
    assert response.status_code == 413
    assert _error(response)["code"] == "payload_too_large"


def test_chunked_body_over_limit_is_413(error_client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        yield b"x" * (MAX_BODY_BYTES + 1)
        yield b'"}'

    response = error_client.post(
        "/test/notes", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert _error(response)["code"] == "payload_too_large"


def test_body_within_limit_passes(error_client: TestClient) -> None:
    response = error_client.post("/test/notes", json={"text": "ok"})
    assert response.status_code == 200


def test_chunks_are_counted_across_messages() -> None:
    """Many small chunks, none over the limit alone, together over it."""

    async def read_all(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read"})

    limited = BodyLimitMiddleware(read_all, max_body_bytes=10)
    chunks = [{"type": "http.request", "body": b"abcd", "more_body": True}] * 5
    chunks.append({"type": "http.request", "body": b"", "more_body": False})
    sent: list[Message] = []

    async def receive() -> Message:
        return chunks.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": "POST", "path": "/", "headers": [], "state": {}}
    anyio.run(limited, scope, receive, send)
    assert sent[0]["status"] == 413
    assert b"payload_too_large" in sent[1]["body"]


def test_unhandled_exception_is_500_without_trace(error_client: TestClient) -> None:
    response = error_client.get("/test/boom")
    assert response.status_code == 500
    assert _error(response)["code"] == "internal"
    assert "secret detail" not in response.text
    assert "Traceback" not in response.text


def test_request_id_is_echoed_or_made(error_client: TestClient) -> None:
    echoed = error_client.get("/healthz", headers={"X-Request-ID": "trace-42"})
    assert echoed.headers["x-request-id"] == "trace-42"
    made = error_client.get("/healthz")
    assert len(made.headers["x-request-id"]) == 32
    unsafe = error_client.get("/healthz", headers={"X-Request-ID": "x" * 500})
    assert unsafe.headers["x-request-id"] != "x" * 500
    not_found = error_client.get("/nope", headers={"X-Request-ID": "trace-43"})
    assert not_found.json()["error"]["request_id"] == "trace-43"
