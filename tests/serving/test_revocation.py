"""Revoking a subject's tokens: refused from then on, kept across restarts, admin only."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from core.security import PersonalData
from core.settings import Keyring
from serving.app import create_app
from serving.platform.auth import issue_token
from serving.settings import ServiceSettings
from tests.serving.conftest import audited_store, bearer

REVOCATIONS = "/v1/admin/revocations"


def _token(keyring: Keyring, subject: str, role: str, issued: datetime) -> dict[str, str]:
    token = issue_token(keyring, subject, role, timedelta(minutes=30), now=issued)
    return {"Authorization": f"Bearer {token}"}


def test_a_revoked_subject_s_earlier_tokens_are_refused(
    client: TestClient, service_keyring: Keyring, service_personal: PersonalData
) -> None:
    earlier = datetime.now(UTC) - timedelta(minutes=5)
    phone = _token(service_keyring, "E1001", "member", earlier)
    other = _token(service_keyring, "E1002", "member", earlier)
    assert client.get("/v1/whoami", headers=phone).status_code == 200

    admin = bearer(service_keyring, "admin.li", "admin")
    revoked = client.post(
        REVOCATIONS, json={"subject": "E1001", "reason": "lost_device"}, headers=admin
    )
    assert revoked.status_code == 201, revoked.text
    body = revoked.json()
    assert body["subject_key"] == service_personal.pseudonymiser.pseudonym("subject", "E1001")
    assert body["reason"] == "lost_device"
    assert "E1001" not in revoked.text

    refused = client.get("/v1/whoami", headers=phone)
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "the token was revoked"
    assert "invalid_token" in refused.headers["www-authenticate"]
    assert client.get("/v1/whoami", headers=other).status_code == 200  # only that subject

    time.sleep(1.05)  # token times are whole seconds: the same second counts as before
    new_phone = _token(service_keyring, "E1001", "member", datetime.now(UTC))
    assert client.get("/v1/whoami", headers=new_phone).status_code == 200  # issued after

    with audited_store(client) as store:
        denied = store.query(
            "SELECT status_code FROM audit_log WHERE subject_key = ? ORDER BY seq",
            [body["subject_key"]],
        )["status_code"].tolist()
    assert denied == [200, 401, 200]  # the refused request is in the log too


def test_revocations_survive_a_restart(
    service_settings: ServiceSettings, service_keyring: Keyring
) -> None:
    earlier = datetime.now(UTC) - timedelta(minutes=5)
    phone = _token(service_keyring, "E1001", "member", earlier)
    admin = bearer(service_keyring, "admin.li", "admin")
    with TestClient(create_app(service_settings)) as first:
        first.post(REVOCATIONS, json={"subject": "E1001", "reason": "left"}, headers=admin)
    with TestClient(create_app(service_settings)) as second:
        assert second.get("/v1/whoami", headers=phone).status_code == 401
        listed = second.get(REVOCATIONS, headers=admin).json()
    assert listed["total"] == 1
    assert listed["revocations"][0]["reason"] == "left"


@pytest.mark.parametrize(
    ("role", "revoke", "read"),
    [
        ("admin", 201, 200),
        ("security_auditor", 403, 200),
        ("auditor", 403, 403),
        ("member", 403, 403),
    ],
)
def test_only_the_admin_revokes(
    client: TestClient, service_keyring: Keyring, role: str, revoke: int, read: int
) -> None:
    caller = bearer(service_keyring, "someone", role)
    request = {"subject": "E1002", "reason": "role_changed"}
    assert client.post(REVOCATIONS, json=request, headers=caller).status_code == revoke
    assert client.get(REVOCATIONS, headers=caller).status_code == read


@pytest.mark.parametrize(
    "request_body",
    [
        {"subject": "E1001"},
        {"subject": "E1001", "reason": "because"},
        {"subject": " E1001", "reason": "left"},
        {"subject": "", "reason": "left"},
    ],
)
def test_bad_revocations_are_422(
    client: TestClient, service_keyring: Keyring, request_body: dict[str, str]
) -> None:
    admin = bearer(service_keyring, "admin.li", "admin")
    response = client.post(REVOCATIONS, json=request_body, headers=admin)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
