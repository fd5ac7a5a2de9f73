from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from core.security import PersonalData
from core.settings import Keyring
from serving.app import create_app
from serving.platform.audit_chain import GENESIS_HASH, ChainVerifier, append_entry, verify_chain
from serving.platform.audit_journal import journal_dir_for
from serving.settings import ServiceSettings
from store.database import Store
from tests.serving.conftest import audited_store, bearer


def _entries(client: TestClient) -> list[dict[str, object]]:
    with audited_store(client) as store:
        rows = store.query("SELECT * FROM audit_log ORDER BY seq").to_dict("records")
    return [{str(name): value for name, value in row.items()} for row in rows]


def test_reads_and_denials_are_logged_with_pseudonyms(
    client: TestClient, service_keyring: Keyring, service_personal: PersonalData
) -> None:
    member = bearer(service_keyring, "E1001", "member")
    client.get("/v1/members/E1001", headers=member | {"X-Request-ID": "req-read"})
    client.get("/v1/members/E1002", headers=member | {"X-Request-ID": "req-denied"})
    client.get("/v1/whoami", headers={"X-Request-ID": "req-anonymous"})
    client.get("/healthz", headers={"X-Request-ID": "req-health"})  # public, audited too

    entries = _entries(client)
    assert [e["request_id"] for e in entries] == [
        "req-read",
        "req-denied",
        "req-anonymous",
        "req-health",
    ]
    assert [e["status_code"] for e in entries] == [200, 403, 401, 200]
    assert [e["seq"] for e in entries] == [1, 2, 3, 4]
    subject_key = service_personal.pseudonymiser.pseudonym("subject", "E1001")
    assert [e["subject_key"] for e in entries] == [subject_key, subject_key, "", ""]
    assert [e["role"] for e in entries] == ["member", "member", "", ""]
    assert entries[0]["action"] == "GET"
    assert entries[0]["resource"] == f"/v1/members/member:{service_personal.member_key('E1001')}"
    assert entries[2]["resource"] == "/v1/whoami"
    assert entries[0]["prev_hash"] == GENESIS_HASH
    assert entries[1]["prev_hash"] == entries[0]["entry_hash"]
    assert not any("E100" in str(value) for entry in entries for value in entry.values())

    with client.app.state.runtime.store.use() as store:  # type: ignore[attr-defined]
        assert verify_chain(store)


@pytest.mark.parametrize(
    "tampering",
    [
        "UPDATE audit_log SET status_code = 500 WHERE seq = 2",
        "UPDATE audit_log SET subject_key = '' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 2",
    ],
)
def test_tampering_breaks_the_chain(
    client: TestClient, service_keyring: Keyring, tampering: str
) -> None:
    admin = bearer(service_keyring, "sec.wang", "security_auditor")
    for _ in range(3):
        client.get("/v1/whoami", headers=admin)
    page = client.get("/v1/audit-log", headers=admin).json()
    assert page["chain_valid"] is True

    with client.app.state.runtime.store.use() as store:  # type: ignore[attr-defined]
        store.connection.execute(tampering)
        assert not verify_chain(store)
    full = client.get("/v1/audit-log?full=true", headers=admin).json()
    assert full["chain_valid"] is False


def test_incremental_verify_catches_a_changed_new_entry(
    client: TestClient, service_keyring: Keyring
) -> None:
    auditor = bearer(service_keyring, "sec.wang", "security_auditor")
    assert client.get("/v1/audit-log", headers=auditor).json()["chain_valid"] is True
    for _ in range(3):
        client.get("/v1/whoami", headers=auditor)
    with audited_store(client) as store:
        head = store.connection.execute("SELECT max(seq) FROM audit_log").fetchone()
        assert head is not None
        head_seq = head[0]
        store.connection.execute(
            "UPDATE audit_log SET status_code = 500 WHERE seq = ?", [head_seq - 1]
        )
    assert client.get("/v1/audit-log", headers=auditor).json()["chain_valid"] is False
    assert client.get("/v1/audit-log", headers=auditor).json()["chain_valid"] is False


def test_incremental_verify_catches_a_changed_or_cut_last_verified_entry(store: Store) -> None:
    fields = {"subject_key": "", "role": "", "action": "cli", "status_code": 0, "request_id": "r"}
    for n in range(5):
        append_entry(store, resource=f"r{n}", **fields)  # type: ignore[arg-type]
    verifier = ChainVerifier()
    assert verifier.verify(store)
    assert verifier.verified_seq == 5
    append_entry(store, resource="r5", **fields)  # type: ignore[arg-type]
    assert verifier.verify(store)
    assert verifier.verified_seq == 6
    store.connection.execute("DELETE FROM audit_log WHERE seq = 6")
    assert not verifier.verify(store)
    assert verifier.verify(store, full=True)  # a cut tail is a valid chain (anchors catch it)
    store.connection.execute("UPDATE audit_log SET resource = 'x' WHERE seq = 2")
    assert verifier.verify(store)  # inside the verified prefix: only a full verify sees it
    assert not verifier.verify(store, full=True)


def test_audit_log_pages(client: TestClient, service_keyring: Keyring) -> None:
    admin = bearer(service_keyring, "sec.wang", "security_auditor")
    for _ in range(4):
        client.get("/v1/whoami", headers=admin)
    page = client.get("/v1/audit-log?limit=2&offset=1", headers=admin).json()
    assert [entry["seq"] for entry in page["entries"]] == [2, 3]
    assert (page["total"], page["limit"], page["offset"]) == (4, 2, 1)
    assert page["chain_valid"] is True


def test_chain_of_an_empty_log_verifies(store: Store) -> None:
    assert verify_chain(store)
    first = append_entry(
        store,
        subject_key="",
        role="",
        action="cli",
        resource="keys rotate",
        status_code=0,
        request_id="r",
        at=datetime(2025, 1, 1, 8, 0, 0, 123456),
    )
    assert first.seq == 1
    assert first.prev_hash == GENESIS_HASH
    assert verify_chain(store)


def test_store_summary_shows_latest_run_per_reader(
    client: TestClient, service_keyring: Keyring
) -> None:
    runs = pd.DataFrame(
        {
            "run_id": ["r1", "r2"],
            "reader": ["ocds", "ocds"],
            "source_file": ["old.jsonl", "new.jsonl"],
            "source_sha256": ["a", "b"],
            "records_in": [10, 12],
            "accepted": [9, 11],
            "quarantined": [1, 1],
            "new_rows": [9, 2],
            "started_at": [datetime(2025, 1, 1), datetime(2025, 2, 1)],
            "seconds": [1.0, 1.0],
        }
    )
    with client.app.state.runtime.store.use() as store:  # type: ignore[attr-defined]
        store.insert_new("ingest_runs", runs)
    summary = client.get(
        "/v1/store/summary", headers=bearer(service_keyring, "audit.zhao", "auditor")
    ).json()
    assert summary["table_rows"]["ingest_runs"] == 2
    [latest] = summary["latest_ingest_runs"]
    assert (latest["source_file"], latest["records_in"], latest["accepted"]) == (
        "new.jsonl",
        12,
        11,
    )
    assert latest["quarantined"] == 1


def test_a_damaged_journal_keeps_the_service_unready(
    service_settings: ServiceSettings, service_keyring: Keyring
) -> None:
    journal_dir = journal_dir_for(service_settings.resolved_store_path)
    journal_dir.mkdir()
    (journal_dir / "000000000001.journal").write_bytes(b"not a sealed entry\nnor this\n")
    with TestClient(create_app(service_settings)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "audit log unavailable" in ready.json()["error"]["message"]
        admin = bearer(service_keyring, "sec.wang", "security_auditor")
        response = client.get("/v1/whoami", headers=admin)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "audit_unavailable"
    assert (journal_dir / "000000000001.journal").exists()  # left for inspection


def test_an_anchor_recorded_elsewhere_reveals_a_cut_tail(
    client: TestClient, service_keyring: Keyring
) -> None:
    reader = bearer(service_keyring, "sec.wang", "security_auditor")
    for _ in range(4):
        client.get("/v1/whoami", headers=reader)
    recorded = client.get("/v1/audit-log", headers=reader).json()
    anchor = {"anchor_seq": recorded["head_seq"], "anchor_hash": recorded["head_hash"]}
    assert recorded["head_seq"] == 4
    assert recorded["head_hash"] == recorded["entries"][-1]["entry_hash"]
    assert recorded["anchor_matches"] is None

    later = client.get("/v1/audit-log", params=anchor, headers=reader).json()
    assert (later["chain_valid"], later["anchor_matches"]) == (True, True)

    with audited_store(client) as store:  # someone cuts off the newest entries
        store.connection.execute("DELETE FROM audit_log WHERE seq >= 3")
    full = client.get("/v1/audit-log", params=anchor | {"full": "true"}, headers=reader).json()
    assert full["chain_valid"] is True  # the chain alone cannot tell
    assert full["anchor_matches"] is False


def test_an_anchor_needs_both_halves(client: TestClient, service_keyring: Keyring) -> None:
    reader = bearer(service_keyring, "sec.wang", "security_auditor")
    response = client.get("/v1/audit-log", params={"anchor_seq": 1}, headers=reader)
    assert response.status_code == 422
