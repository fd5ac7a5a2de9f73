"""Pushed rows reach the ESG and study answers without a restart: the service's push hooks
(``app.state.online_push``, what ingestion calls after each insert) carry a supplier event to
that supplier's screen and a quiz statement to that member's mastery."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from core.security import PersonalData
from core.settings import Keyring
from features.online.study import STUDY_ROW_COLUMNS
from serving.app import create_app
from serving.settings import ServiceSettings
from tests.champions import copy_installation
from tests.serving.conftest import bearer
from tests.serving.installations import store_of

AS_OF = date(2025, 12, 31)
STUDY_AS_OF = "2025-12-15T00:00:00"


@pytest.fixture(scope="module")
def installation(
    trained_installation: ServiceSettings, tmp_path_factory: pytest.TempPathFactory
) -> ServiceSettings:
    """A copy of the session's trained installation (the ESG and study champions beside the
    risk champion)."""
    return copy_installation(trained_installation, tmp_path_factory.mktemp("live-esg-study"))


@pytest.fixture(scope="module")
def keys(installation: ServiceSettings) -> Keyring:
    return installation.keyring()


@pytest.fixture(scope="module")
def api(installation: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(create_app(installation)) as client:
        yield client


def push(client: TestClient, batch: Mapping[str, pd.DataFrame]) -> list[Any]:
    """What ingestion does after an insert: every hook gets the new rows."""
    hooks = client.app.state.online_push  # type: ignore[attr-defined]
    return [hook(batch) for hook in hooks]


def test_both_hooks_are_registered_and_take_any_batch(api: TestClient) -> None:
    """The ESG and study hooks come first; the branch assessment's cache hook after them
    reports nothing for a table it does not read."""
    esg, study, assessment = push(api, {"audit_outcomes": pd.DataFrame({"ocid": ["x"]})})
    assert esg is not None
    assert esg.touched == ()
    assert study is not None
    assert study.touched == ()
    assert assessment is None


def _eligible_supplier(api: TestClient, keys: Keyring) -> tuple[str, dict[str, Any]]:
    history = api.app.state.esg.esg.history  # type: ignore[attr-defined]
    headers = bearer(keys, "esg.li", "esg_analyst")
    for supplier_id in history.supplier_ids:
        body = api.get(f"/v1/suppliers/{supplier_id}/esg?as_of={AS_OF}", headers=headers).json()
        if body.get("eligible") and body.get("band") != "unknown":
            return supplier_id, body
    raise AssertionError("no eligible supplier with a score in the small world")


def test_a_pushed_listing_knocks_the_supplier_out_without_a_restart(
    api: TestClient, keys: Keyring
) -> None:
    supplier_id, before = _eligible_supplier(api, keys)
    event = pd.DataFrame(
        [
            {
                "event_id": f"live-{uuid.uuid4()}",
                "supplier_id": supplier_id,
                "event_type": "court_defaulter",
                "event_date": date(2025, 11, 3),  # in the past: lands at its date
                "severity": "serious",
                "deaths": 0,
                "fine_cny": 0.0,
                "listed_until": date(2027, 1, 1),
                "description": "listed as a court defaulter",
                "evidence_document": "court/2025/77",
            }
        ]
    )
    with store_of(api) as store:
        assert store.insert_new("supplier_events", event) == 1
    esg_outcome = push(api, {"supplier_events": event})[0]
    assert esg_outcome.changed == (supplier_id,)
    headers = bearer(keys, "esg.li", "esg_analyst")
    after = api.get(f"/v1/suppliers/{supplier_id}/esg?as_of={AS_OF}", headers=headers).json()
    assert before["eligible"] is True
    assert after["eligible"] is False
    assert after["action"] == "reject_knocked_out"
    # before the listing's date the screen is as it was (point in time)
    earlier = api.get(f"/v1/suppliers/{supplier_id}/esg?as_of=2025-11-01", headers=headers)
    assert earlier.json()["eligible"] is True


def _member(api: TestClient, keys: Keyring) -> tuple[str, str]:
    """(employee number, member key) of the member with the most statements."""
    with store_of(api) as store:
        row = store.query(
            "SELECT m.employee_no_enc, m.member_key FROM members m "
            "JOIN statements s USING (member_key) GROUP BY ALL "
            "ORDER BY count(*) DESC, m.member_key LIMIT 1"
        ).iloc[0]
    employee_no = PersonalData(keys).cipher.decrypt(
        row["employee_no_enc"], column="employee_no_enc"
    )
    return str(employee_no), str(row["member_key"])


def _attempts(api: TestClient, keys: Keyring, employee_no: str, kp: str) -> dict[str, Any]:
    body = api.get(
        f"/v1/members/{employee_no}/mastery?as_of={STUDY_AS_OF}",
        headers=bearer(keys, "admin.chen", "admin"),
    ).json()
    found: dict[str, Any] = {row["kp_id"]: row for row in body["knowledge_points"]}[kp]
    return found


def test_a_pushed_quiz_statement_moves_the_members_mastery_and_rows(
    api: TestClient, keys: Keyring
) -> None:
    employee_no, member_key = _member(api, keys)
    study = api.app.state.learning.study  # type: ignore[attr-defined]
    content = study.data.learning.content
    with_kps = content[content["knowledge_points"].map(len) > 0].iloc[0]
    kp, content_id = str(with_kps["knowledge_points"][0]), str(with_kps["content_id"])
    before = _attempts(api, keys, employee_no, kp)
    row = {
        "statement_id": str(uuid.uuid4()),
        "member_key": member_key,
        "verb": "answered",
        "object_id": f"https://lodestar.invalid/content/{content_id}/questions/9",
        "content_id": content_id,
        "knowledge_points": [kp],
        "success": False,
        "duration_seconds": 40.0,
        "item_difficulty": None,
        "timestamp": datetime(2025, 12, 10, 8),
    }
    frame = pd.DataFrame([row], columns=list(STUDY_ROW_COLUMNS))
    study_outcome = push(api, {"statements": frame})[1]
    assert study_outcome.new == (member_key,)
    after = _attempts(api, keys, employee_no, kp)
    assert after["attempts"] == before["attempts"] + 1
    assert after["p_correct"] != before["p_correct"]
    # the member's suggestions are answered from rows that include the push
    response = api.get(
        f"/v1/members/{employee_no}/recommendations?k=5&as_of={STUDY_AS_OF}",
        headers=bearer(keys, "admin.chen", "admin"),
    )
    assert response.status_code == 200, response.text
    assert member_key not in study._other.stale  # their rows were recomputed or rebuilt
    # the same push again changes nothing
    again = push(api, {"statements": frame})[1]
    assert again.touched == ()
    assert _attempts(api, keys, employee_no, kp)["attempts"] == after["attempts"]
