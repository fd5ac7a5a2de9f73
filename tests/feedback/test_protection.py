"""The reporter's protection: the identity is never returned to handlers or other members, is
encrypted in the store file, and every read of it is recorded with its reason and audited."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from core.settings import Keyring
from serving.settings import ServiceSettings
from store.database import Store, plaintext_present
from tests.serving.conftest import audited_store, bearer

REPORTER = "E1001"
OTHER = "E1002"
INTEGRITY = "评标前就打招呼了，中标的是关系户，听说有回扣"
REASON = "纪检监察立案调查需要核实举报人身份（案件编号 JJ-2025-17）"


def _submit(client: TestClient, keyring: Keyring, *, anonymous: bool = False) -> dict:
    response = client.post(
        "/v1/feedback",
        json={"text": INTEGRITY, "ocid": "ocds-lodestar-2025-000005", "anonymous": anonymous},
        headers=bearer(keyring, REPORTER, "member"),
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_nobody_but_the_reporter_sees_the_report_and_no_one_the_reporter(
    client: TestClient, service_keyring: Keyring
) -> None:
    report = _submit(client, service_keyring)
    assert report["kind"] == "integrity_concern"
    assert report["route_role"] == "auditor"
    report_id = report["report_id"]
    auditor = bearer(service_keyring, "aud-1", "auditor")
    bodies = [
        client.get("/v1/feedback", headers=auditor),
        client.get(f"/v1/feedback/{report_id}", headers=auditor),
        client.get("/v1/feedback/mine", headers=bearer(service_keyring, REPORTER, "member")),
        client.get(
            f"/v1/feedback/{report_id}", headers=bearer(service_keyring, REPORTER, "member")
        ),
    ]
    for response in bodies:
        assert response.status_code == 200, response.text
        assert REPORTER not in response.text
        assert "reporter" not in json.dumps(response.json())
    assert bodies[0].json()["total"] == 1
    # another member: neither listed nor readable (a 404, as for a report that does not exist)
    other = bearer(service_keyring, OTHER, "member")
    assert client.get("/v1/feedback/mine", headers=other).json()["total"] == 0
    assert client.get(f"/v1/feedback/{report_id}", headers=other).status_code == 404
    # the roles it is not routed to do not see it; members cannot list the inbox
    manager = bearer(service_keyring, "pm-1", "procurement_manager")
    assert client.get("/v1/feedback", headers=manager).json()["total"] == 0
    assert client.get(f"/v1/feedback/{report_id}", headers=manager).status_code == 404
    assert client.get("/v1/feedback", headers=other).status_code == 403


def test_no_route_selects_reports_by_reporter_except_mine(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    feedback = {path: spec for path, spec in paths.items() if path.startswith("/v1/feedback")}
    assert feedback, "the feedback routes are mounted"
    for path, spec in feedback.items():
        assert "reporter" not in path or path.endswith("/{report_id}/reporter")
        for operation in spec.values():
            names = {p["name"] for p in operation.get("parameters", [])}
            assert not names & {"employee_no", "reporter", "reporter_key", "member"}


def test_identity_is_encrypted_in_the_store_file(
    client: TestClient, service_keyring: Keyring, service_settings: ServiceSettings
) -> None:
    _submit(client, service_keyring)
    with audited_store(client) as store:
        raw = store.query("SELECT reporter_enc, reporter_key, text_enc FROM feedback_reports")
    assert bytes(raw["reporter_enc"][0]).startswith(b"L1")
    assert raw["reporter_key"][0] != REPORTER
    client.__exit__(None, None, None)
    # on top of the file's own encryption: the plain copy of the columns holds no identity
    plain = service_settings.data_dir / "plain.duckdb"
    with Store(plain, encryption_key=None) as copy:
        copy.ensure_schema()
        copy.connection.register("raw", raw)
        copy.connection.execute("CREATE TABLE leak AS SELECT * FROM raw")
        copy.checkpoint()
    assert plaintext_present(plain, [REPORTER, "关系户"]) == []


def test_reading_the_identity_needs_a_reason_and_is_audited(
    client: TestClient, service_keyring: Keyring
) -> None:
    report_id = _submit(client, service_keyring)["report_id"]
    anonymous_id = _submit(client, service_keyring, anonymous=True)["report_id"]
    admin = bearer(service_keyring, "root", "admin")
    path = f"/v1/feedback/{report_id}/reporter"
    assert client.post(path, json={"reason": "看看"}, headers=admin).status_code == 422
    for role in ("auditor", "party_officer", "procurement_manager", "member", "security_auditor"):
        refused = client.post(
            path, json={"reason": REASON}, headers=bearer(service_keyring, "x", role)
        )
        assert refused.status_code == 403
    granted = client.post(path, json={"reason": REASON}, headers=admin)
    assert granted.status_code == 200
    assert granted.json()["employee_no"] == REPORTER
    anonymous = client.post(
        f"/v1/feedback/{anonymous_id}/reporter", json={"reason": REASON}, headers=admin
    )
    assert anonymous.status_code == 404
    with audited_store(client) as store:
        accesses = store.query(
            "SELECT report_id, granted, reason_enc FROM feedback_identity_access "
            "ORDER BY accessed_at"
        )
        chain = store.query(
            "SELECT action, resource FROM audit_log WHERE action = 'REVEAL_REPORTER' ORDER BY seq"
        )
        stored_identity = store.query(
            "SELECT reporter_enc FROM feedback_reports WHERE report_id = ?", [anonymous_id]
        )
    assert accesses["report_id"].tolist() == [report_id, anonymous_id]
    assert accesses["granted"].tolist() == [True, False]
    personal = client.app.state.runtime.personal  # type: ignore[attr-defined]
    assert personal.cipher.decrypt(accesses["reason_enc"][0], column="reason_enc") == REASON
    assert chain["resource"].tolist() == [path, f"/v1/feedback/{anonymous_id}/reporter"]
    assert stored_identity["reporter_enc"].isna().all()  # anonymous: nothing to reveal, ever
