"""The party officer's routes: own branch only, reasons, and no figure of a group under five."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from core.security import PersonalData
from core.settings import Keyring, init_key_file
from serving.app import create_app
from serving.jobs import party
from store.database import Store
from tests.serving.conftest import bearer, make_settings

BIG = "物资供应中心第一党支部"
SMALL = "柳沟矿物资供应站第二党支部"
# employee_no, name, branch, shift pattern, crew
MEMBERS = [
    ("E2001", "张伟", BIG, "day", "A"),
    ("E2002", "王芳", BIG, "day", "A"),
    ("E2003", "李娜", BIG, "day", "A"),
    ("E2004", "刘洋", BIG, "three_shift", "A"),
    ("E2005", "陈静", BIG, "three_shift", "B"),
    ("E2006", "杨磊", BIG, "three_shift", "C"),
    ("E3001", "赵敏", SMALL, "four_crew_three_shift", "A"),
    ("E3002", "周杰", SMALL, "four_crew_three_shift", "B"),
    ("E3003", "吴刚", SMALL, "day", "A"),
    ("E4001", "孙丽", None, "day", "A"),
]
MONTHS = ("2025-02", "2025-03")


def _members(personal: PersonalData) -> pd.DataFrame:
    cipher = personal.cipher
    return pd.DataFrame(
        [
            {
                "member_key": personal.member_key(number),
                "employee_no_enc": cipher.encrypt(number, column="employee_no_enc"),
                "name_enc": cipher.encrypt(name, column="name_enc"),
                "party_branch_enc": cipher.encrypt(branch, column="party_branch_enc"),
                "branch_key": personal.pseudonymiser.pseudonym("branch", branch)
                if branch
                else None,
                "role": "party_officer",
                "shift_pattern": pattern,
                "crew": crew,
                "joined_on": date(2019, 3, 1),
            }
            for number, name, branch, pattern, crew in MEMBERS
        ]
    )


def _attendance(personal: PersonalData) -> pd.DataFrame:
    rows = [
        {
            "meeting_id": f"M-{branch}-{month}",
            "branch_key": personal.pseudonymiser.pseudonym("branch", branch),
            "member_key": personal.member_key(number),
            "kind": "themed_party_day",
            "starts_at": datetime.fromisoformat(f"{month}-07T16:00"),
            "minutes": 90,
            "mode": "in_person",
            "attended": pattern == "day",
        }
        for number, _, branch, pattern, _ in MEMBERS
        if branch
        for month in MONTHS
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def party_client(tmp_path: Path) -> Iterator[tuple[TestClient, Keyring]]:
    settings = make_settings(tmp_path)
    init_key_file(settings.key_file)
    keyring = settings.keyring()
    personal = PersonalData(keyring)
    with Store.open(settings, keyring) as store:
        store.insert_new("members", _members(personal))
        store.insert_new("meeting_attendance", _attendance(personal))
    with TestClient(create_app(settings)) as client:
        yield client, keyring


SLOTS = "/v1/branches/mine/meeting-slots"
ASSESSMENT = "/v1/branches/mine/assessment"


def test_an_officer_gets_slots_for_their_own_branch_with_reasons(
    party_client: tuple[TestClient, Keyring],
) -> None:
    client, keyring = party_client
    answer = client.get(
        SLOTS,
        params={"start": "2025-01-06", "end": "2025-01-10"},
        headers=bearer(keyring, "E2001", "party_officer"),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["members"] == 6
    assert body["main"]["attendees"] < 6
    absent = {a["employee_no"]: a for a in body["main"]["absent"]}
    assert set(absent) <= {"E2004", "E2005", "E2006"}
    assert all(a["name"] for a in absent.values())
    assert not set(absent) & {number for number, *_ in MEMBERS if not number.startswith("E2")}
    assert body["reasons_en"][0].startswith(f"{body['main']['attendees']} of 6 members")
    assert body["reasons_zh"][0].startswith("6名党员中")
    assert body["covered_share"] == 1.0


def test_slots_refuse_bad_rules_other_roles_and_officers_without_a_branch(
    party_client: tuple[TestClient, Keyring],
) -> None:
    client, keyring = party_client
    officer = bearer(keyring, "E2001", "party_officer")
    params = {"start": "2025-01-06", "minutes": 240, "earliest": 18, "latest": 20}
    assert client.get(SLOTS, params=params, headers=officer).status_code == 422
    too_long = {"start": "2025-01-01", "end": "2025-06-01"}
    assert client.get(SLOTS, params=too_long, headers=officer).status_code == 422
    member = bearer(keyring, "E2001", "member")
    assert client.get(SLOTS, params={"start": "2025-01-06"}, headers=member).status_code == 403
    stray = bearer(keyring, "E4001", "party_officer")
    assert client.get(SLOTS, params={"start": "2025-01-06"}, headers=stray).status_code == 404


def test_the_assessment_shows_a_branch_of_six_and_withholds_one_of_three(
    party_client: tuple[TestClient, Keyring],
) -> None:
    client, keyring = party_client
    params = {"months": 2, "as_of": "2025-03-31"}
    big = client.get(ASSESSMENT, params=params, headers=bearer(keyring, "E2001", "party_officer"))
    assert big.status_code == 200, big.text
    months = big.json()["months"]
    assert [m["month"] for m in months] == list(MONTHS)
    assert all(m["members"] == 6 and not m["suppressed"] for m in months)
    assert months[0]["meeting_coverage"] == pytest.approx(0.5)
    assert months[0]["feedback_resolution_hours"] is None

    small = client.get(ASSESSMENT, params=params, headers=bearer(keyring, "E3001", "party_officer"))
    assert small.status_code == 200
    for month in small.json()["months"]:
        assert month["suppressed"]
        assert month["members"] is None
        numbers = [v for k, v in month.items() if k not in {"month", "suppressed"}]
        flat = [v for n in numbers for v in (n.values() if isinstance(n, dict) else [n])]
        assert all(v is None for v in flat)


def test_the_export_is_the_officers_branch_under_its_name(
    party_client: tuple[TestClient, Keyring],
) -> None:
    client, keyring = party_client
    answer = client.get(
        ASSESSMENT + ".csv",
        params={"months": 2, "as_of": "2025-03-31"},
        headers=bearer(keyring, "E2001", "party_officer"),
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    text = answer.content.decode("utf-8")
    assert text.startswith("\ufeff党支部,月份")
    rows = text.splitlines()[1:]
    assert len(rows) == 2
    assert all(row.startswith(f"{BIG},") for row in rows)
    assert SMALL not in text


def _coverage(client: TestClient, keyring: Keyring) -> list[float | None]:
    answer = client.get(
        ASSESSMENT,
        params={"months": 2, "as_of": "2025-03-31"},
        headers=bearer(keyring, "E2001", "party_officer"),
    )
    assert answer.status_code == 200, answer.text
    return [month["meeting_coverage"] for month in answer.json()["months"]]


def test_the_assessment_is_computed_once_until_new_data_is_ingested(
    party_client: tuple[TestClient, Keyring],
) -> None:
    client, keyring = party_client
    cache = client.app.state.party_assessment  # type: ignore[attr-defined]
    assert _coverage(client, keyring) == [pytest.approx(0.5), pytest.approx(0.5)]
    assert _coverage(client, keyring) == [pytest.approx(0.5), pytest.approx(0.5)]
    assert (cache.misses, cache.hits) == (1, 1)

    # the three shift workers of the big branch came to a catch-up meeting in March
    register = (
        "meeting_id,party_branch,kind,starts_at,minutes,mode,employee_no,attended\n"
        + "".join(
            f"M-catch-up,{BIG},themed_party_day,2025-03-18T10:00,90,in_person,{number},true\n"
            for number in ("E2004", "E2005", "E2006")
        )
    )
    ingested = client.post(
        "/v1/ingest/meeting_attendance",
        content=register.encode(),
        headers={
            **bearer(keyring, "loader", "integration"),
            "Content-Type": "application/octet-stream",
        },
    )
    assert ingested.status_code == 200, ingested.text
    assert ingested.json()["accepted"] == 3
    assert _coverage(client, keyring) == [pytest.approx(0.5), pytest.approx(1.0)]
    assert (cache.misses, cache.hits) == (2, 1)


def test_a_report_moved_through_the_api_drops_the_cached_assessment(
    party_client: tuple[TestClient, Keyring],
) -> None:
    client, keyring = party_client
    cache = client.app.state.party_assessment  # type: ignore[attr-defined]
    _coverage(client, keyring)
    submitted = client.post(
        "/v1/feedback",
        json={"text": "采购申请在审批环节卡住十天了，没人处理"},
        headers=bearer(keyring, "E2002", "member"),
    )
    assert submitted.status_code in (200, 201), submitted.text
    _coverage(client, keyring)
    assert (cache.misses, cache.hits) == (2, 0)


def test_only_rows_landing_in_a_table_the_assessment_reads_drop_it() -> None:
    cache = party.AssessmentCache()
    rows = pd.DataFrame({"a": [1]})
    assert cache.push({"processes": rows, "bids": rows}) is None
    assert cache.push({"statements": rows.iloc[:0]}) is None
    assert cache.generation == 0
    summary = cache.push({"processes": rows, "statements": rows, "members": rows})
    assert summary == {"source": "party_assessment", "invalidated_by": ["members", "statements"]}
    assert cache.generation == 1
