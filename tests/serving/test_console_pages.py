"""The console's pages over real components: the small world ingested into a real encrypted
store, the ESG, mastery and recommender models trained and registered by the real training
code (small options), the app built on both. The pages must say what the matching API
routes say: the same ranking, screen, report, branch figures and suggestions."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.security import PersonalData
from core.settings import Keyring
from serving.app import create_app
from serving.jobs.learning_answers import MIN_GROUP_SIZE
from serving.settings import ServiceSettings
from store.database import Store
from tests.champions import copy_installation
from tests.serving.conftest import bearer
from tests.serving.console_world import put_users
from tests.serving.installations import store_of
from tests.serving.test_console import _csrf

SIGNIN = "/console/signin"
PASSWORD = "a console test password"


@dataclass(frozen=True)
class People:
    """Employee numbers from the small world: a member with study records, an officer of a
    branch of at least five members, one of a smaller branch (None if the world has none)."""

    member: str
    officer: str
    small_branch_officer: str | None


def _people(settings: ServiceSettings) -> People:
    """Picks the people, and puts six more members with study records in the officer's
    branch (this module's own store copy) so that it is not suppressed."""
    keyring = settings.keyring()
    personal = PersonalData(keyring)
    with Store.open(settings, keyring) as store:
        rows = store.query(
            "SELECT m.employee_no_enc, m.member_key, m.branch_key, "
            "(SELECT count(*) FROM statements s WHERE s.member_key = m.member_key) AS n "
            "FROM members m ORDER BY n DESC, m.member_key"
        ).to_dict("records")
        studied = [row for row in rows if row["n"] > 0]
        officer = next(row for row in studied if isinstance(row["branch_key"], str))
        studied.remove(officer)
        studied.insert(0, officer)
        others = [row["member_key"] for row in studied if row is not officer][:6]
        store.connection.execute(
            f"UPDATE members SET branch_key = ? WHERE member_key IN ({', '.join('?' * 6)})",
            [officer["branch_key"], *others],
        )
        sizes = store.query(
            "SELECT branch_key, count(*) AS n FROM members WHERE branch_key IS NOT NULL GROUP BY 1"
        )
    small = set(sizes.loc[sizes["n"] < MIN_GROUP_SIZE, "branch_key"])
    member = next(row for row in studied[1:] if row["member_key"] not in others)
    small_one = next(
        (
            row
            for row in rows
            if row["branch_key"] in small
            and row["member_key"] not in {*others, officer["member_key"], member["member_key"]}
        ),
        None,
    )

    def number(row: dict[Any, Any]) -> str:
        return str(personal.cipher.decrypt(row["employee_no_enc"], column="employee_no_enc"))

    return People(
        member=number(member),
        officer=number(officer),
        small_branch_officer=None if small_one is None else number(small_one),
    )


@pytest.fixture(scope="module")
def installation(
    trained_installation: ServiceSettings, tmp_path_factory: pytest.TempPathFactory
) -> ServiceSettings:
    """A copy of the session's trained installation (the ESG and study champions beside the
    risk champion)."""
    return copy_installation(trained_installation, tmp_path_factory.mktemp("console-pages"))


@pytest.fixture(scope="module")
def people(installation: ServiceSettings) -> People:
    found = _people(installation)
    users = [
        ("buyer.wang", "procurement_manager", PASSWORD),
        ("esg.liu", "esg_analyst", PASSWORD),
        ("admin.li", "admin", PASSWORD),
        (found.member, "member", PASSWORD),
        (found.officer, "party_officer", PASSWORD),
    ]
    if found.small_branch_officer is not None:
        users.append((found.small_branch_officer, "party_officer", PASSWORD))
    put_users(installation, users)
    return found


@pytest.fixture(scope="module")
def app_client(installation: ServiceSettings, people: People) -> Iterator[TestClient]:
    with TestClient(create_app(installation)) as client:
        yield client


@pytest.fixture
def console(app_client: TestClient) -> TestClient:
    app_client.cookies.clear()
    return app_client


@pytest.fixture(scope="module")
def keys(installation: ServiceSettings) -> Keyring:
    return installation.keyring()


def _sign_in(client: TestClient, user_name: str) -> TestClient:
    form = client.get(SIGNIN)
    answer = client.post(
        SIGNIN,
        data={"csrf": _csrf(form.text), "user_name": user_name, "password": PASSWORD},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return client


def _ranked_tender(client: TestClient) -> str:
    with store_of(client) as store:
        rows = store.query(
            "SELECT ocid FROM bids WHERE status = 'valid' AND value_amount IS NOT NULL "
            "GROUP BY ocid HAVING count(DISTINCT tenderer_ids[1]) >= 3 ORDER BY ocid LIMIT 1"
        )
    return str(rows["ocid"].iloc[0])


def test_manager_sees_bidders_ranked_greener_as_the_api_ranks_them(
    console: TestClient, keys: Keyring
) -> None:
    ocid = _ranked_tender(console)
    _sign_in(console, "buyer.wang")
    listing = console.get("/console/tenders")
    assert listing.status_code == 200
    assert (
        console.get("/console/tenders", params={"ocid": ocid}, follow_redirects=False).headers[
            "location"
        ]
        == f"/console/tenders/{ocid}"
    )
    page = console.get(f"/console/tenders/{ocid}")
    assert page.status_code == 200, page.text
    api = console.post(
        f"/v1/tenders/{ocid}/esg-ranking",
        json={"esg_weight": 0.3},
        headers=bearer(keys, "buyer.wang", "procurement_manager"),
    ).json()
    shown = re.findall(
        r'<tr class="ranked">\s*<td class="num">(\d+)</td>\s*<td>([^<\s]+)', page.text
    )
    assert [(int(rank), supplier) for rank, supplier in shown] == [
        (bidder["rank"], bidder["supplier_id"]) for bidder in api["ranked"]
    ]
    for bidder in api["excluded"]:
        assert bidder["supplier_id"] in page.text
        assert bidder["knockouts"][0]["code"] in page.text
    assert "本项目的风险" in page.text
    assert console.get("/console/tenders/ocds-none").status_code == 404
    assert console.get("/console/suppliers").status_code == 403


def test_analyst_screens_a_supplier_as_the_api_does(console: TestClient, keys: Keyring) -> None:
    with store_of(console) as store:
        supplier_id = str(
            store.query(
                "SELECT supplier_id FROM supplier_events GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
            )["supplier_id"].iloc[0]
        )
    _sign_in(console, "esg.liu")
    found = console.get("/console/suppliers", params={"q": supplier_id[-5:]}).text
    assert f'href="/console/suppliers/{supplier_id}"' in found
    page = console.get(f"/console/suppliers/{supplier_id}", params={"lang": "en"})
    assert page.status_code == 200
    api = console.get(
        f"/v1/suppliers/{supplier_id}/esg", headers=bearer(keys, "esg.liu", "esg_analyst")
    ).json()
    assert f'id="band">{api["band"].capitalize()}<' in page.text
    if api["score"] is not None:
        assert f'id="score">{api["score"]:.1f}<' in page.text
    assert api["action_en"] in page.text
    for gate in api["knockouts"]:
        assert gate["code"] in page.text
    for restriction in api["restricted_categories"]:
        assert restriction["category"] in page.text
    assert '<rect class="bar sev-' in page.text  # events over time, drawn on the server
    assert "<script" not in page.text
    assert console.get("/console/suppliers/NO-SUCH").status_code == 404


def test_analyst_downloads_the_gri_report_as_csv(console: TestClient, keys: Keyring) -> None:
    _sign_in(console, "esg.liu")
    period = {"from": "2025-01-01", "to": "2025-12-31"}
    page = console.get("/console/esg-report", params=period)
    assert page.status_code == 200
    assert "/console/esg-report.csv?from=2025-01-01&amp;to=2025-12-31" in page.text
    download = console.get("/console/esg-report.csv", params=period)
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    rows = {row[0]: row for row in csv.reader(io.StringIO(download.text))}
    api = console.get(
        "/v1/esg/report", params=period, headers=bearer(keys, "esg.liu", "esg_analyst")
    ).json()
    for name in ("in_scope", "screened", "flagged", "corrective_plans", "dropped"):
        assert int(rows[name][2]) == api[name]
    assert rows["screened"][1] == "308-2a / 414-2a"
    assert rows["new_screened_environmental"][1] == "308-1"
    reversed_period = console.get(
        "/console/esg-report", params={"from": "2025-12-31", "to": "2025-01-01"}
    )
    assert reversed_period.status_code == 422


def test_officer_sees_the_branch_aggregates_and_small_branches_are_suppressed(
    console: TestClient, people: People, keys: Keyring
) -> None:
    _sign_in(console, people.officer)
    page = console.get("/console/branch")
    assert page.status_code == 200
    api = console.get(
        "/v1/branches/mine/mastery", headers=bearer(keys, people.officer, "party_officer")
    ).json()
    assert f'id="members">{api["members"]}<' in page.text
    assert page.text.count("<meter") >= len(api["domains"])
    assert 'id="mandatory"' in page.text
    if people.small_branch_officer is not None:
        console.cookies.clear()
        _sign_in(console, people.small_branch_officer)
        small = console.get("/console/branch").text
        assert 'id="suppressed"' in small
        assert 'id="members"' not in small


def test_member_page_shows_suggestions_with_reasons_and_mastery(
    console: TestClient, people: People, keys: Keyring
) -> None:
    """The member's page as the study service answers with real (small) trained models: the
    same suggestions, in order, as ``GET /v1/members/{no}/recommendations``."""
    _sign_in(console, people.member)
    page = console.get("/console/me")
    assert page.status_code == 200
    api = console.get(
        f"/v1/members/{people.member}/recommendations",
        params={"k": 5},
        headers=bearer(keys, people.member, "member"),
    ).json()
    titles = [item["title"] or item["content_id"] for item in api["items"]]
    shown = re.findall(r'<li class="suggestion">\s*<h3>([^<]*)</h3>', page.text)
    assert shown == titles
    for item in api["items"]:
        for reason in item["reasons"]:
            assert reason["text_zh"] in page.text
    assert page.text.count("<meter") > 0


def test_member_page_as_of_a_past_day_answers_as_the_api_does_then(
    console: TestClient, people: People, keys: Keyring
) -> None:
    """``?as_of=`` a past day: the suggestions the API gives ``as_of`` the end of that day; a
    day further back than the service replays is refused with a page, not a 500."""
    day = (datetime.now(UTC) - timedelta(days=3)).date().isoformat()
    _sign_in(console, people.member)
    page = console.get("/console/me", params={"as_of": day})
    assert page.status_code == 200
    assert 'id="as-of"' in page.text
    api = console.get(
        f"/v1/members/{people.member}/recommendations",
        params={"k": 5, "as_of": f"{day}T23:59:59.999999Z"},
        headers=bearer(keys, people.member, "member"),
    ).json()
    titles = [item["title"] or item["content_id"] for item in api["items"]]
    assert re.findall(r'<li class="suggestion">\s*<h3>([^<]*)</h3>', page.text) == titles
    old = console.get("/console/me", params={"as_of": "1990-01-01"})
    assert old.status_code == 422
    assert "早于服务可回溯的期限" in old.text


def test_admin_sees_loaded_models_with_their_gate_verdict(console: TestClient) -> None:
    _sign_in(console, "admin.li")
    page = console.get("/console/admin").text
    assert "promoted" in page  # the champion gate's verdict, read from the registry
    for model in ("supplier-esg", "mastery", "study-recommender"):
        assert re.search(rf"<td>{model}</td>\s*<td>v\d+", page), model
