"""Every request is in the audit log, refused ones included, and a request without a valid
credential is refused (401) before its body is judged."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from core.security import PersonalData
from core.settings import Keyring
from serving.platform.audit_chain import verify_chain
from tests.serving.conftest import MAX_BODY_BYTES, audited_store, bearer


def _entry(client: TestClient, request_id: str) -> dict[str, object]:
    with audited_store(client) as store:
        rows = store.query("SELECT * FROM audit_log WHERE request_id = ?", [request_id]).to_dict(
            "records"
        )
    assert len(rows) == 1, f"{request_id}: {len(rows)} entries"
    return {str(name): value for name, value in rows[0].items()}


MALFORMED = b'{"ocid": '
HUGE = b"[" + b"1," * MAX_BODY_BYTES + b"1]"


@pytest.mark.parametrize("body", [MALFORMED, HUGE], ids=["malformed", "huge"])
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-token", "Basic dXNlcjpwYXNz"],
    ids=["none", "bad", "basic"],
)
def test_no_credential_is_401_before_the_body_is_judged(
    client: TestClient, body: bytes, authorization: str | None
) -> None:
    headers = {"Content-Type": "application/json", "X-Request-ID": "req-refused"}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = client.post("/v1/procurement/risk", content=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer")
    entry = _entry(client, "req-refused")
    assert (entry["status_code"], entry["subject_key"], entry["role"]) == (401, "", "")
    assert (entry["action"], entry["resource"]) == ("POST", "/v1/procurement/risk")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [(MALFORMED, 400, "malformed_json"), (HUGE, 413, "payload_too_large")],
    ids=["malformed", "huge"],
)
def test_refused_bodies_of_a_known_caller_are_audited(
    client: TestClient,
    service_keyring: Keyring,
    service_personal: PersonalData,
    body: bytes,
    status: int,
    code: str,
) -> None:
    headers = bearer(service_keyring, "audit.li", "auditor") | {
        "Content-Type": "application/json",
        "X-Request-ID": "req-body",
    }
    response = client.post("/v1/procurement/risk", content=body, headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    entry = _entry(client, "req-body")
    assert entry["status_code"] == status
    assert entry["subject_key"] == service_personal.pseudonymiser.pseudonym("subject", "audit.li")
    assert entry["role"] == "auditor"


def test_chunked_body_over_the_limit_is_audited(
    client: TestClient, service_keyring: Keyring
) -> None:
    headers = bearer(service_keyring, "audit.li", "auditor") | {
        "Content-Type": "application/json",
        "X-Request-ID": "req-chunked",
    }
    chunks = iter([b"[" + b"1," * 400, b"1," * 400, b"1]"])
    response = client.post("/v1/procurement/risk/batch", content=chunks, headers=headers)
    assert response.status_code == 413
    assert _entry(client, "req-chunked")["status_code"] == 413


def test_unknown_routes_are_audited_without_what_was_typed(
    client: TestClient, service_keyring: Keyring, service_personal: PersonalData
) -> None:
    member = bearer(service_keyring, "E1001", "member")
    inside = client.get("/v1/members/E1001/nothing", headers=member | {"X-Request-ID": "req-in"})
    outside = client.get("/E1001/nothing", headers={"X-Request-ID": "req-out"})
    assert (inside.status_code, outside.status_code) == (404, 404)
    entry = _entry(client, "req-in")
    assert entry["subject_key"] == service_personal.pseudonymiser.pseudonym("subject", "E1001")
    assert entry["resource"] == "/v1/members/{?}/{?}"
    assert _entry(client, "req-out")["resource"] == "/{?}/{?}"


def test_a_refused_personal_path_is_logged_by_pseudonym(
    client: TestClient, service_personal: PersonalData
) -> None:
    response = client.get("/v1/members/E1002", headers={"X-Request-ID": "req-anon"})
    assert response.status_code == 401
    entry = _entry(client, "req-anon")
    assert entry["resource"] == f"/v1/members/member:{service_personal.member_key('E1002')}"


def test_public_paths_are_audited_anonymously(client: TestClient, service_keyring: Keyring) -> None:
    admin = bearer(service_keyring, "ops.zhao", "admin")
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert (
            client.get(path, headers=admin | {"X-Request-ID": f"req-{path.strip('/')}"}).status_code
            == 200
        )
        entry = _entry(client, f"req-{path.strip('/')}")
        assert (entry["resource"], entry["subject_key"], entry["status_code"]) == (path, "", 200)
    with audited_store(client) as store:
        assert verify_chain(store)
