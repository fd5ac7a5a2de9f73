from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.testclient import TestClient

from core.settings import Keyring
from serving.platform.auth import InvalidTokenError, issue_token, require_roles, verify_token
from tests.serving.conftest import bearer, expired_bearer


def _claims(**overrides: object) -> dict[str, object]:
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": "E1001",
        "role": "member",
        "iss": "lodestar",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "jti": "j1",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _unsigned_token(claims: dict[str, object]) -> str:
    def part(value: dict[str, object]) -> str:
        raw = json.dumps(value, default=lambda d: int(d.timestamp())).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def test_issued_token_verifies(service_keyring: Keyring) -> None:
    token = issue_token(service_keyring, "E1001", "member", timedelta(minutes=5))
    principal = verify_token(service_keyring, token)
    assert (principal.subject, principal.role) == ("E1001", "member")
    assert principal.expires_at > datetime.now(UTC)


@pytest.mark.parametrize(
    ("subject", "role", "ttl"),
    [("E1001", "superuser", 5), ("", "member", 5), (" E1001", "member", 5), ("E1", "member", 0)],
)
def test_issue_token_refuses_bad_input(
    service_keyring: Keyring, subject: str, role: str, ttl: int
) -> None:
    with pytest.raises(ValueError, match=r"role|subject|ttl"):
        issue_token(service_keyring, subject, role, timedelta(minutes=ttl))


def test_require_roles_refuses_unknown_roles() -> None:
    with pytest.raises(ValueError, match="known roles"):
        require_roles("superuser")  # type: ignore[arg-type]


def test_missing_token_is_401_with_challenge(client: TestClient) -> None:
    response = client.get("/v1/whoami")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "unauthorized"


def test_other_scheme_is_401(client: TestClient) -> None:
    response = client.get("/v1/whoami", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401


def _forged_tokens(keyring: Keyring) -> dict[str, str]:
    key = keyring.token_signing_key
    return {
        "bad_signature": jwt.encode(_claims(), b"k" * 32, algorithm="HS256"),
        "wrong_issuer": jwt.encode(_claims(iss="someone-else"), key, algorithm="HS256"),
        "no_expiry": jwt.encode(_claims(exp=None), key, algorithm="HS256"),
        "unknown_role": jwt.encode(_claims(role="superuser"), key, algorithm="HS256"),
        "alg_none": _unsigned_token(_claims()),
        "garbage": "not.a.token",
    }


@pytest.mark.parametrize(
    "kind",
    ["bad_signature", "wrong_issuer", "no_expiry", "unknown_role", "alg_none", "garbage"],
)
def test_invalid_tokens_are_401(client: TestClient, service_keyring: Keyring, kind: str) -> None:
    token = _forged_tokens(service_keyring)[kind]
    with pytest.raises(InvalidTokenError):
        verify_token(service_keyring, token)
    response = client.get("/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_expired_token_is_401(client: TestClient, service_keyring: Keyring) -> None:
    response = client.get("/v1/whoami", headers=expired_bearer(service_keyring, "E1001", "member"))
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "the token has expired"


def test_whoami_answers_any_role(client: TestClient, service_keyring: Keyring) -> None:
    response = client.get("/v1/whoami", headers=bearer(service_keyring, "wang.fang", "esg_analyst"))
    assert response.status_code == 200
    assert response.json()["subject"] == "wang.fang"
    assert response.json()["role"] == "esg_analyst"


def test_member_reads_own_record_decrypted(client: TestClient, service_keyring: Keyring) -> None:
    response = client.get("/v1/members/E1001", headers=bearer(service_keyring, "E1001", "member"))
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "张伟"
    assert body["phone"] == "13800000001"
    assert body["party_branch"] == "物资供应中心第一党支部"
    assert body["employee_no"] == "E1001"


def test_member_may_not_read_another_member(client: TestClient, service_keyring: Keyring) -> None:
    response = client.get("/v1/members/E1002", headers=bearer(service_keyring, "E1001", "member"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    # Same answer whether or not the other number exists: no existence oracle.
    absent = client.get("/v1/members/E9999", headers=bearer(service_keyring, "E1001", "member"))
    assert absent.status_code == 403


def test_admin_reads_any_member_and_unknown_is_404(
    client: TestClient, service_keyring: Keyring
) -> None:
    admin = bearer(service_keyring, "admin.li", "admin")
    assert client.get("/v1/members/E1002", headers=admin).json()["name"] == "李娜"
    missing = client.get("/v1/members/E9999", headers=admin)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("role", ["auditor", "procurement_manager", "esg_analyst", "party_officer"])
def test_staff_roles_may_not_read_member_records(
    client: TestClient, service_keyring: Keyring, role: str
) -> None:
    response = client.get("/v1/members/E1001", headers=bearer(service_keyring, "staff", role))
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("admin", 200),
        ("auditor", 200),
        ("procurement_manager", 200),
        ("esg_analyst", 200),
        ("party_officer", 403),
        ("member", 403),
    ],
)
def test_store_summary_roles(
    client: TestClient, service_keyring: Keyring, role: str, status: int
) -> None:
    response = client.get("/v1/store/summary", headers=bearer(service_keyring, "someone", role))
    assert response.status_code == status
    if status == 200:
        assert response.json()["table_rows"]["members"] == 2
        assert response.json()["latest_ingest_runs"] == []


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("security_auditor", 200),
        ("admin", 403),  # the administrator does not read the log of their own actions
        ("auditor", 403),
        ("procurement_manager", 403),
        ("member", 403),
    ],
)
def test_only_the_security_auditor_reads_the_audit_log(
    client: TestClient, service_keyring: Keyring, role: str, status: int
) -> None:
    response = client.get("/v1/audit-log", headers=bearer(service_keyring, "someone", role))
    assert response.status_code == status


def test_every_v1_route_needs_a_credential(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    v1_routes = [
        (method, path.replace("{employee_no}", "E1001"))
        for path, operations in paths.items()
        if path.startswith("/v1/")
        for method in operations
    ]
    assert len(v1_routes) >= 4
    for method, path in v1_routes:
        assert client.request(method, path).status_code == 401, (method, path)
