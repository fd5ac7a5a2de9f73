"""The study routes over real components: the small world ingested into a real encrypted
store, the mastery model and the study recommender trained and registered by the real training
code in a SQLite MLflow registry, and the app built on both."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from core.security import PersonalData
from core.settings import Keyring
from features.learning.kt_features import CORRECT, MEMBER, ORDER, TIMESTAMP
from ingest.readers.xapi import ADL_VERB_PREFIX, KNOWLEDGE_POINTS_EXTENSION
from serving.app import create_app
from serving.jobs import learning_answers
from serving.jobs.learning_answers import MIN_GROUP_SIZE
from serving.jobs.learning_study import Study
from serving.settings import ServiceSettings
from tests.champions import copy_installation
from tests.serving.conftest import audited_store, bearer
from tests.serving.installations import served, store_of

REPO_ROOT = Path(__file__).resolve().parents[2]
AS_OF = "2025-12-15T00:00:00"
STATEMENTS = "/v1/xapi/statements"
BRANCH = "/v1/branches/mine/mastery"
VERSION = {"X-Experience-API-Version": "1.0.3"}
STARTUP_SECONDS = 90


def mastery_url(employee_no: str) -> str:
    return f"/v1/members/{employee_no}/mastery"


def recommendations_url(employee_no: str) -> str:
    return f"/v1/members/{employee_no}/recommendations"


def statement(
    employee_no: str,
    *,
    kp: str = "KP01",
    content: str = "C0001",
    verb: str = "answered",
    success: bool | None = True,
    when: datetime = datetime(2025, 12, 1, 8),
    statement_id: str | None = None,
) -> dict[str, Any]:
    """An xAPI statement on one KP, as a learning platform would post it."""
    body: dict[str, Any] = {
        "actor": {
            "objectType": "Agent",
            "account": {"homePage": "https://lodestar.invalid/accounts", "name": employee_no},
        },
        "verb": {"id": ADL_VERB_PREFIX + verb},
        "object": {
            "objectType": "Activity",
            "id": f"https://lodestar.invalid/content/{content}/questions/1",
            "definition": {"type": "http://adlnet.gov/expapi/activities/cmi.interaction"},
        },
        "result": {"success": success, "duration": "PT40S"},
        "context": {"extensions": {KNOWLEDGE_POINTS_EXTENSION: [kp]}},
        "timestamp": when.isoformat() + "Z",
    }
    if statement_id is not None:
        body["id"] = statement_id
    return body


@dataclass(frozen=True)
class Person:
    employee_no: str
    member_key: str
    shift_pattern: str
    branch_key: str | None


@pytest.fixture(scope="module")
def installation(
    trained_installation: ServiceSettings, tmp_path_factory: pytest.TempPathFactory
) -> ServiceSettings:
    """A copy of the session's trained installation (both study champions beside the others;
    small, fast options)."""
    return copy_installation(trained_installation, tmp_path_factory.mktemp("learning-api"))


@pytest.fixture(scope="module")
def keys(installation: ServiceSettings) -> Keyring:
    return installation.keyring()


@pytest.fixture(scope="module")
def personal(keys: Keyring) -> PersonalData:
    return PersonalData(keys)


@pytest.fixture(scope="module")
def api(installation: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(create_app(installation)) as client:
        yield client


def _study(client: TestClient) -> Study:
    study: Study = client.app.state.learning.study  # type: ignore[attr-defined]
    return study


@pytest.fixture(scope="module")
def people(api: TestClient, personal: PersonalData) -> list[Person]:
    """Every member, shift workers with the most statements first."""
    with store_of(api) as store:
        rows = store.query(
            "SELECT m.employee_no_enc, m.member_key, m.shift_pattern, m.branch_key, "
            "count(s.statement_id) AS n FROM members m "
            "LEFT JOIN statements s USING (member_key) "
            "GROUP BY m.employee_no_enc, m.member_key, m.shift_pattern, m.branch_key "
            "ORDER BY (m.shift_pattern = 'day'), n DESC, m.member_key"
        ).to_dict("records")
    return [
        Person(
            employee_no=str(
                personal.cipher.decrypt(r["employee_no_enc"], column="employee_no_enc")
            ),
            member_key=str(r["member_key"]),
            shift_pattern=str(r["shift_pattern"]),
            branch_key=r["branch_key"] if isinstance(r["branch_key"], str) else None,
        )
        for r in rows
    ]


def member(keys: Keyring, person: Person) -> dict[str, str]:
    return bearer(keys, person.employee_no, "member")


def admin(keys: Keyring) -> dict[str, str]:
    return bearer(keys, "admin.chen", "admin")


def _kp_on_content(api: TestClient) -> tuple[str, str]:
    """A (content_id, kp_id) of the catalogue."""
    content = _study(api).data.learning.content
    row = content[content["knowledge_points"].map(len) > 0].iloc[0]
    return str(row["content_id"]), str(row["knowledge_points"][0])


# --------------------------------------------------------------------------------------------
# Readiness and access


def test_readiness_names_both_study_models(api: TestClient) -> None:
    models = {m["name"]: m for m in api.get("/readyz").json()["models"]}
    for name in ("mastery", "study-recommender"):
        model = models[name]
        assert datetime.fromisoformat(model.pop("loaded_at")).utcoffset() == timedelta(0)
        assert model == {
            "name": name,
            "alias": "champion",
            "loaded": True,
            "version": "1",
            "reason": None,
            "load_error": None,
            "feature_settings_warning": None,
        }


def test_a_member_reads_only_their_own(
    api: TestClient, keys: Keyring, people: list[Person]
) -> None:
    me, other = people[0], people[1]
    for url in (mastery_url, recommendations_url):
        assert api.get(url(me.employee_no), headers=member(keys, me)).status_code == 200
        denied = api.get(url(other.employee_no), headers=member(keys, me))
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "forbidden"
        # ownership is checked before the lookup: no hint whether a number exists
        assert api.get(url("E999999"), headers=member(keys, me)).status_code == 403
        assert api.get(url(other.employee_no), headers=admin(keys)).status_code == 200
        missing = api.get(url("E999999"), headers=admin(keys))
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        assert api.get(url(me.employee_no)).status_code == 401
        officer = bearer(keys, me.employee_no, "party_officer")
        assert api.get(url(me.employee_no), headers=officer).status_code == 403


@pytest.mark.parametrize(
    "query",
    ["k=0", "k=51", "k=ten", "minutes=0", "minutes=241", "minutes=inf", "as_of=yesterday"],
)
def test_bad_recommendation_requests_are_422(
    api: TestClient, keys: Keyring, people: list[Person], query: str
) -> None:
    me = people[0]
    response = api.get(f"{recommendations_url(me.employee_no)}?{query}", headers=member(keys, me))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


# --------------------------------------------------------------------------------------------
# Suggestions and mastery


def test_recommendations_with_reasons_in_both_languages(
    api: TestClient, keys: Keyring, people: list[Person]
) -> None:
    me = people[0]
    response = api.get(
        f"{recommendations_url(me.employee_no)}?k=10&as_of={AS_OF}", headers=member(keys, me)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["employee_no"] == me.employee_no
    assert body["model"] == {"name": "study-recommender", "version": "1"}
    assert body["mastery_model"] == {"name": "mastery", "version": "1"}
    assert body["minutes_source"] in ("roster", "none")
    assert 0 < len(body["items"]) <= 10
    assert [item["rank"] for item in body["items"]] == list(range(1, len(body["items"]) + 1))
    assert len({item["content_id"] for item in body["items"]}) == len(body["items"])
    reasons = [reason for item in body["items"] for reason in item["reasons"]]
    assert reasons
    for reason in reasons:
        assert reason["text_en"]
        assert reason["text_zh"]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in reason["text_zh"])
    kinds = {reason["kind"] for reason in reasons}
    assert kinds & {"weak_kp", "time_fit", "mandatory"}
    if body["minutes"] is not None:
        assert all(item["minutes"] <= body["minutes"] for item in body["items"])


def test_k_and_minutes_bound_the_list(api: TestClient, keys: Keyring, people: list[Person]) -> None:
    me = people[0]
    response = api.get(
        f"{recommendations_url(me.employee_no)}?k=3&minutes=15&as_of={AS_OF}",
        headers=member(keys, me),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["k"] == 3
    assert body["minutes"] == 15
    assert body["minutes_source"] == "request"
    assert len(body["items"]) <= 3
    assert all(item["minutes"] <= 15 for item in body["items"])
    fits = [r for item in body["items"] for r in item["reasons"] if r["kind"] == "time_fit"]
    assert all("15" in r["text_en"] for r in fits)


def test_default_moment_is_now(api: TestClient, keys: Keyring, people: list[Person]) -> None:
    me = people[0]
    response = api.get(recommendations_url(me.employee_no), headers=member(keys, me))
    assert response.status_code == 200, response.text
    as_of = datetime.fromisoformat(response.json()["as_of"])
    assert as_of.utcoffset() == timedelta(0)
    assert abs((as_of - datetime.now(UTC)).total_seconds()) < 120


def test_mastery_profile_and_check_in(api: TestClient, keys: Keyring, people: list[Person]) -> None:
    me = people[0]
    response = api.get(f"{mastery_url(me.employee_no)}?as_of={AS_OF}", headers=member(keys, me))
    assert response.status_code == 200, response.text
    body = response.json()
    kps = body["knowledge_points"]
    assert len(kps) == len(_study(api).data.knowledge_points)
    assert all(0.0 <= kp["p_correct"] <= 1.0 and kp["attempts"] >= 0 for kp in kps)
    assert [kp["p_correct"] for kp in kps] == sorted(kp["p_correct"] for kp in kps)
    assert all(kp["name_en"] and kp["name_zh"] for kp in kps)
    practised = [kp for kp in kps if kp["attempts"] > 0]
    assert practised
    as_of = datetime.fromisoformat(AS_OF).replace(tzinfo=UTC)
    assert all(datetime.fromisoformat(kp["last_practised"]) <= as_of for kp in practised)
    check_in = body["check_in"]
    assert isinstance(check_in["flagged"], bool)
    assert isinstance(check_in["reasons"], list)
    assert check_in["window_start"] < check_in["window_end"]
    assert body["model"] == {"name": "mastery", "version": "1"}


def test_the_check_in_flag_matches_the_detector(
    api: TestClient, keys: Keyring, people: list[Person]
) -> None:
    detected = _study(api).data.check_in
    flagged = set(detected.loc[detected["flagged"].astype(bool), "member_key"])
    by_key = {p.member_key: p for p in people}
    someone = next((by_key[k] for k in flagged if k in by_key), None)
    assert someone is not None, "the small world's planted check-in members should be flagged"
    body = api.get(mastery_url(someone.employee_no), headers=admin(keys)).json()
    assert body["check_in"]["flagged"] is True
    assert body["check_in"]["reasons"]


# --------------------------------------------------------------------------------------------
# Branch aggregates


def test_branch_aggregates_for_the_officers_own_branch(
    api: TestClient, keys: Keyring, people: list[Person]
) -> None:
    officer = next(p for p in people if p.branch_key is not None)
    headers = bearer(keys, officer.employee_no, "party_officer")
    with store_of(api) as store:
        size = store.connection.execute(
            "SELECT count(*) FROM members WHERE branch_key = ?", [officer.branch_key]
        ).fetchone()[0]
    small = api.get(f"{BRANCH}?as_of={AS_OF}", headers=headers)
    assert small.status_code == 200, small.text
    if size < MIN_GROUP_SIZE:
        assert small.json()["suppressed"] is True
        assert small.json()["members"] is None
        assert small.json()["domains"] == []
    # put seven members in the officer's branch (this module's own store copy)
    others = [p.member_key for p in people if p.member_key != officer.member_key][:6]
    with store_of(api) as store:
        store.connection.execute(
            f"UPDATE members SET branch_key = ? WHERE member_key IN ({', '.join('?' * 6)})",
            [officer.branch_key, *others],
        )
    response = api.get(f"{BRANCH}?as_of={AS_OF}", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["suppressed"] is False
    assert body["members"] >= 7
    assert body["min_group_size"] == MIN_GROUP_SIZE
    assert 0 <= body["check_in_flagged"] <= body["members_with_study"] <= body["members"]
    domains = {d["domain"]: d for d in body["domains"]}
    assert domains
    assert all(0.0 <= d["mean_p_correct"] <= 1.0 for d in domains.values())
    assert "member_key" not in response.text
    assert officer.employee_no not in response.text


def test_branch_aggregates_are_for_officers_with_a_branch(
    api: TestClient, keys: Keyring, people: list[Person]
) -> None:
    assert api.get(BRANCH, headers=member(keys, people[0])).status_code == 403
    assert api.get(BRANCH, headers=admin(keys)).status_code == 403
    stranger = api.get(BRANCH, headers=bearer(keys, "E999999", "party_officer"))
    assert stranger.status_code == 404


# --------------------------------------------------------------------------------------------
# xAPI statements


def _stored(api: TestClient, ids: list[str]) -> set[str]:
    with store_of(api) as store:
        rows = store.query(
            f"SELECT statement_id FROM statements WHERE statement_id IN "
            f"({', '.join('?' * len(ids))})",
            ids,
        )
    return set(rows["statement_id"])


def test_post_a_single_statement(api: TestClient, keys: Keyring, people: list[Person]) -> None:
    me = people[2]
    own_id = str(uuid.uuid4())
    response = api.post(
        STATEMENTS,
        json=statement(me.employee_no, statement_id=own_id),
        headers=member(keys, me) | VERSION,
    )
    assert response.status_code == 200, response.text
    assert response.json() == [own_id]
    assert response.headers["X-Experience-API-Version"].startswith("1.0")
    assert _stored(api, [own_id]) == {own_id}
    again = api.post(
        STATEMENTS,
        json=statement(me.employee_no, statement_id=own_id),
        headers=member(keys, me) | VERSION,
    )
    assert again.status_code == 200
    assert again.json() == [own_id]


def test_post_a_list_generates_missing_ids(
    api: TestClient, keys: Keyring, people: list[Person]
) -> None:
    me = people[2]
    given = str(uuid.uuid4())
    batch = [
        statement(me.employee_no, statement_id=given, when=datetime(2025, 12, 2, 9)),
        statement(me.employee_no, success=False, when=datetime(2025, 12, 2, 10)),
    ]
    response = api.post(STATEMENTS, json=batch, headers=admin(keys) | VERSION)
    assert response.status_code == 200, response.text
    ids = response.json()
    assert len(ids) == 2
    assert ids[0] == given
    assert uuid.UUID(ids[1]).version == 5
    assert _stored(api, ids) == set(ids)


@pytest.mark.parametrize(
    ("headers", "code"),
    [({}, "missing_version"), ({"X-Experience-API-Version": "2.0.0"}, "unsupported_version")],
)
def test_the_version_header_is_required(
    api: TestClient, keys: Keyring, people: list[Person], headers: dict[str, str], code: str
) -> None:
    me = people[2]
    given = str(uuid.uuid4())
    response = api.post(
        STATEMENTS,
        json=statement(me.employee_no, statement_id=given),
        headers=member(keys, me) | headers,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert _stored(api, [given]) == set()


def test_bad_statements_are_refused_and_the_rest_is_kept(
    api: TestClient, keys: Keyring, people: list[Person]
) -> None:
    me = people[2]
    good = [str(uuid.uuid4()), str(uuid.uuid4())]
    no_actor = statement(me.employee_no)
    del no_actor["actor"]
    unknown_verb = statement(me.employee_no, when=datetime(2025, 12, 3))
    unknown_verb["verb"]["id"] = "http://example.com/verbs/liked"
    out_of_range = statement(me.employee_no, when=datetime(2025, 12, 4))
    out_of_range["result"]["score"] = {"scaled": 1.5}
    bad_duration = statement(me.employee_no, when=datetime(2025, 12, 5))
    bad_duration["result"]["duration"] = "PT1X"
    batch = [
        statement(me.employee_no, statement_id=good[0], when=datetime(2025, 12, 6)),
        no_actor,
        unknown_verb,
        out_of_range,
        statement(me.employee_no, statement_id=good[1], when=datetime(2025, 12, 7)),
        bad_duration,
    ]
    with store_of(api) as store:
        quarantined_before = store.count("quarantine")
    response = api.post(STATEMENTS, json=batch, headers=admin(keys) | VERSION)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"]["code"] == "invalid_statements"
    reasons = {item["index"]: item["reason"] for item in body["rejected"]}
    assert sorted(reasons) == [1, 2, 3, 5]
    assert "actor" in reasons[1]
    assert "unknown verb" in reasons[2]
    assert "outside [-1, 1]" in reasons[3]
    assert "duration" in reasons[5]
    assert [d["loc"] for d in body["error"]["details"]] == [["body", i] for i in (1, 2, 3, 5)]
    assert body["stored_statement_ids"] == good
    assert _stored(api, good) == set(good)
    with store_of(api) as store:
        assert store.count("quarantine") == quarantined_before + 4
        kept = store.query(
            "SELECT reason, record_enc FROM quarantine WHERE reader = 'xapi-http' "
            "ORDER BY source_line"
        )
    assert me.employee_no.encode() not in b"".join(kept["record_enc"])  # encrypted
    retried = api.post(STATEMENTS, json=batch, headers=admin(keys) | VERSION)
    assert retried.status_code == 400
    with store_of(api) as store:
        assert store.count("quarantine") == quarantined_before + 4  # nothing twice


def test_a_member_posts_only_their_own(
    api: TestClient, keys: Keyring, people: list[Person]
) -> None:
    me, other = people[2], people[3]
    given = str(uuid.uuid4())
    batch = [
        statement(me.employee_no),
        statement(other.employee_no, statement_id=given),
    ]
    response = api.post(STATEMENTS, json=batch, headers=member(keys, me) | VERSION)
    assert response.status_code == 403
    assert _stored(api, [given]) == set()
    officer = bearer(keys, me.employee_no, "party_officer")
    assert api.post(STATEMENTS, json=batch, headers=officer | VERSION).status_code == 403


def test_the_same_id_with_other_content_is_a_conflict(
    api: TestClient, keys: Keyring, people: list[Person]
) -> None:
    me = people[2]
    given = str(uuid.uuid4())
    first = api.post(
        STATEMENTS,
        json=statement(me.employee_no, statement_id=given, success=True),
        headers=admin(keys) | VERSION,
    )
    assert first.status_code == 200
    fresh = str(uuid.uuid4())
    clash = [
        statement(me.employee_no, statement_id=fresh),
        statement(me.employee_no, statement_id=given, success=False),
    ]
    response = api.post(STATEMENTS, json=clash, headers=admin(keys) | VERSION)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert _stored(api, [fresh]) == set()  # nothing of the batch is stored


def test_posted_statements_change_mastery_and_suggestions(
    api: TestClient, keys: Keyring, people: list[Person]
) -> None:
    me = people[1]
    content_id, kp = _kp_on_content(api)
    headers = member(keys, me)

    def profile() -> dict[str, Any]:
        body = api.get(f"{mastery_url(me.employee_no)}?as_of={AS_OF}", headers=headers).json()
        return {row["kp_id"]: row for row in body["knowledge_points"]}[kp]

    def suggestions() -> list[tuple[str, float]]:
        url = f"{recommendations_url(me.employee_no)}?k=10&as_of={AS_OF}"
        body = api.get(url, headers=headers).json()
        return [(item["content_id"], item["score"]) for item in body["items"]]

    before, listed_before = profile(), suggestions()
    failures = [
        statement(
            me.employee_no,
            kp=kp,
            content=content_id,
            success=False,
            when=datetime(2025, 12, 1, 8) + timedelta(hours=6 * n),
        )
        for n in range(20)
    ]
    posted = api.post(STATEMENTS, json=failures, headers=headers | VERSION)
    assert posted.status_code == 200, posted.text
    after, listed_after = profile(), suggestions()
    assert after["attempts"] >= before["attempts"] + 20
    assert after["p_correct"] < before["p_correct"]
    assert after["last_practised"] > (before["last_practised"] or "")
    assert listed_after != listed_before


def test_a_member_without_history_gets_the_cold_start(api: TestClient) -> None:
    """Every member of the small world has statements; a newly registered one has none."""
    profile = learning_answers.member_mastery(
        _study(api), "E-NEW", "a-member-key-with-no-events", datetime(2025, 12, 15)
    )
    assert len(profile.knowledge_points) == len(_study(api).data.knowledge_points)
    assert all(kp.attempts == 0 and kp.last_practised is None for kp in profile.knowledge_points)
    assert all(0.0 < kp.p_correct < 1.0 for kp in profile.knowledge_points)
    assert profile.check_in.flagged is False
    assert profile.check_in.reasons


def test_study_time_without_an_outcome_is_merged(
    api: TestClient, keys: Keyring, people: list[Person]
) -> None:
    """An ``experienced`` statement carries no ``success``: it must merge with the store's
    nullable booleans and count as study time, not break the next read."""
    me = people[4]
    content_id, kp = _kp_on_content(api)
    watched = statement(me.employee_no, kp=kp, content=content_id, verb="experienced", success=None)
    watched["result"] = {"duration": "PT25M"}
    posted = api.post(STATEMENTS, json=watched, headers=member(keys, me) | VERSION)
    assert posted.status_code == 200, posted.text
    for url in (mastery_url, recommendations_url):
        response = api.get(f"{url(me.employee_no)}?as_of={AS_OF}", headers=member(keys, me))
        assert response.status_code == 200, response.text
    events = _study(api).data.events_of(me.member_key)
    assert (events["minutes"] == 25.0).any()


def _wait_for(condition: Any, what: str, seconds: float = 180.0) -> None:
    """Poll ``condition`` until true (a background thread's work), failing after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_the_live_snapshot_is_built_at_startup(api: TestClient) -> None:
    study = _study(api)
    assert study.live_population is not None
    assert study.builds >= 1


def test_a_posters_next_suggestions_reflect_the_post_without_a_rebuild(
    api: TestClient, keys: Keyring, people: list[Person], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Launching and completing the first suggestion removes it from the next list; only the
    poster's rows were recomputed (no full snapshot build)."""
    study = _study(api)
    monkeypatch.setattr(study, "refresh_seconds", 3600.0)  # no background refresh meanwhile
    _wait_for(lambda: not study.building, "a running snapshot build")
    me = people[5]
    headers = member(keys, me)
    url = f"{recommendations_url(me.employee_no)}?k=10&as_of={AS_OF}"
    first = api.get(url, headers=headers)
    assert first.status_code == 200, first.text
    chosen = first.json()["items"][0]["content_id"]
    builds, updates = study.builds, study.member_updates
    done = [
        statement(me.employee_no, verb=verb, content=chosen, success=None, when=when)
        for verb, when in (
            ("launched", datetime(2025, 12, 10, 9)),
            ("completed", datetime(2025, 12, 10, 9, 20)),
        )
    ]
    posted = api.post(STATEMENTS, json=done, headers=headers | VERSION)
    assert posted.status_code == 200, posted.text
    after = api.get(url, headers=headers)
    assert after.status_code == 200, after.text
    assert after.json()["items"]
    assert chosen not in {item["content_id"] for item in after.json()["items"]}
    assert study.builds == builds
    assert study.member_updates == updates + 1
    again = api.get(url, headers=headers)  # the updated rows are kept
    assert again.json()["items"] == after.json()["items"]
    assert study.member_updates == updates + 1


def _own_events(study: Study, member_key: str) -> pd.DataFrame:
    """The member's rows of the full event frame of the current data (the full path)."""
    events = study.data.current().events()
    own = events[events[MEMBER] == member_key]
    return own.drop(columns=ORDER).reset_index(drop=True)


def test_a_read_merges_only_its_member_and_the_others_when_read(
    api: TestClient, keys: Keyring, people: list[Person], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One post for several members: reading one rebuilds that member's event frame and
    snapshot rows only; each other member's is rebuilt on their own read, and every one
    equals the full path's."""
    study = _study(api)
    monkeypatch.setattr(study, "refresh_seconds", 3600.0)  # no background refresh meanwhile
    _wait_for(lambda: not study.building, "a running snapshot build")
    content_id, kp = _kp_on_content(api)
    posters = people[7:10]
    when = datetime(2025, 12, 3, 8)
    before = {
        p.member_key: len(study.data.events_of(p.member_key))
        for p in posters  # merges anything earlier tests left queued
    }
    first = posters[0]
    mastery = f"{mastery_url(first.employee_no)}?as_of={AS_OF}"

    def attempts() -> int:
        body = api.get(mastery, headers=admin(keys)).json()
        return int({row["kp_id"]: row for row in body["knowledge_points"]}[kp]["attempts"])

    attempts_before = attempts()
    failures = [
        statement(
            p.employee_no, kp=kp, content=content_id, success=False, when=when + timedelta(hours=n)
        )
        for p in posters
        for n in range(3)
    ]
    posted = api.post(STATEMENTS, json=failures, headers=admin(keys) | VERSION)
    assert posted.status_code == 200, posted.text
    rebuilds, updates = study.data.event_rebuilds, study.member_updates

    assert attempts() == attempts_before + 3
    assert study.data.event_rebuilds == rebuilds + 1
    url = f"{recommendations_url(first.employee_no)}?k=10&as_of={AS_OF}"
    assert api.get(url, headers=admin(keys)).status_code == 200
    assert study.member_updates == updates + 1

    for n, person in enumerate(posters, 1):
        events = study.data.events_of(person.member_key)
        assert study.data.event_rebuilds == rebuilds + n
        assert len(events) == before[person.member_key] + 3
        posted_rows = (events[TIMESTAMP] >= when) & (events[TIMESTAMP] < when + timedelta(hours=3))
        assert (posted_rows & (events[CORRECT] == 0.0)).sum() >= 3
        pd.testing.assert_frame_equal(  # codes: one member's categories against everyone's
            events.drop(columns=ORDER).reset_index(drop=True),
            _own_events(study, person.member_key),
            check_categorical=False,
        )
    for n, person in enumerate(posters[1:], 2):  # their snapshot rows: on their own request
        url = f"{recommendations_url(person.employee_no)}?k=10&as_of={AS_OF}"
        assert api.get(url, headers=admin(keys)).status_code == 200
        assert study.member_updates == updates + n
    study.data.events_of(first.member_key)  # kept: not rebuilt again
    assert study.data.event_rebuilds == rebuilds + len(posters)


def test_the_background_refresh_replaces_the_population(
    api: TestClient, keys: Keyring, people: list[Person], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the live path (no ``as_of``): the poster's suggestions reflect the post at once, and
    a full build in the background then brings the post into the population parts."""
    study = _study(api)
    monkeypatch.setattr(study, "refresh_seconds", 0.0)  # due at the next merge
    me = people[6]
    headers = member(keys, me)
    url = f"{recommendations_url(me.employee_no)}?k=10"
    first = api.get(url, headers=headers)
    assert first.status_code == 200, first.text
    chosen = first.json()["items"][0]["content_id"]
    old, builds = study.live_population, study.builds
    assert old is not None
    launched = statement(
        me.employee_no,
        verb="launched",
        content=chosen,
        success=None,
        when=datetime.utcnow() - timedelta(minutes=1),
    )
    posted = api.post(STATEMENTS, json=launched, headers=headers | VERSION)
    assert posted.status_code == 200, posted.text
    after = api.get(url, headers=headers)  # merges the post: the refresh is due
    assert after.status_code == 200, after.text
    assert chosen not in {item["content_id"] for item in after.json()["items"]}
    _wait_for(lambda: not study.refresh_pending, "the background refresh")
    new = study.live_population
    assert new is not None
    assert new is not old
    assert study.builds > builds
    statements = study.data.current().statements
    launches = statements[
        (statements["verb"] == "launched")
        & (statements["content_id"] == chosen)
        & (statements["timestamp"] < new.as_of)
        & statements["member_key"].isin(study.data.member_keys)
    ]
    assert me.member_key in set(launches["member_key"])
    column = new.catalogue.item_index[chosen]
    assert new.item_users[column] == launches["member_key"].nunique()
    later = api.get(url, headers=headers)
    assert chosen not in {item["content_id"] for item in later.json()["items"]}


def test_the_background_refresh_includes_statements_of_members_not_read(
    api: TestClient, keys: Keyring, people: list[Person], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Launches posted for several members, of whom only one then reads: the full build in
    the background counts every launch, and the check-in detection sees every member's."""
    study = _study(api)
    monkeypatch.setattr(study, "refresh_seconds", 0.0)  # due at the next merge
    posters = people[10:13]
    content_id, _ = _kp_on_content(api)
    when = datetime.utcnow() - timedelta(minutes=1)
    launches = [
        statement(p.employee_no, verb="launched", content=content_id, success=None, when=when)
        for p in posters
    ]
    posted = api.post(STATEMENTS, json=launches, headers=admin(keys) | VERSION)
    assert posted.status_code == 200, posted.text
    rebuilds = study.data.event_rebuilds
    reader = posters[0]
    response = api.get(recommendations_url(reader.employee_no), headers=member(keys, reader))
    assert response.status_code == 200, response.text
    _wait_for(lambda: not study.refresh_pending, "the background refresh")
    population = study.live_population
    assert population is not None
    assert population.as_of > pd.Timestamp(when)
    statements = study.data.current().statements
    launched = statements[
        (statements["verb"] == "launched")
        & (statements["content_id"] == content_id)
        & (statements["timestamp"] < population.as_of)
        & statements["member_key"].isin(study.data.member_keys)
    ]
    assert {p.member_key for p in posters} <= set(launched["member_key"])
    column = population.catalogue.item_index[content_id]
    assert population.item_users[column] == launched["member_key"].nunique()
    assert study.data.event_rebuilds == rebuilds  # nobody's event frame was needed


# --------------------------------------------------------------------------------------------
# Audit and no champion


def test_every_read_is_in_the_audit_log(
    api: TestClient, keys: Keyring, people: list[Person], personal: PersonalData
) -> None:
    me, other = people[0], people[1]
    calls = [
        ("learn-mastery", mastery_url(me.employee_no), member(keys, me)),
        ("learn-recs", recommendations_url(me.employee_no), member(keys, me)),
        ("learn-denied", mastery_url(other.employee_no), member(keys, me)),
        ("learn-branch", BRANCH, bearer(keys, "E999999", "party_officer")),
    ]
    for request_id, url, headers in calls:
        api.get(url, headers=headers | {"X-Request-ID": request_id})
    api.post(
        STATEMENTS,
        json=statement(me.employee_no, when=datetime(2025, 11, 30)),
        headers=member(keys, me) | VERSION | {"X-Request-ID": "learn-post"},
    )
    with audited_store(api) as store:
        entries = store.query(
            "SELECT request_id, action, resource, status_code FROM audit_log "
            "WHERE request_id LIKE 'learn-%' ORDER BY seq"
        ).to_dict("records")

    def pseudonym(person: Person) -> str:
        return "member:" + personal.pseudonymiser.pseudonym("member", person.employee_no)

    assert [(e["request_id"], e["action"], e["resource"], e["status_code"]) for e in entries] == [
        ("learn-mastery", "GET", mastery_url(pseudonym(me)), 200),
        ("learn-recs", "GET", recommendations_url(pseudonym(me)), 200),
        ("learn-denied", "GET", mastery_url(pseudonym(other)), 403),
        ("learn-branch", "GET", BRANCH, 404),
        ("learn-post", "POST", STATEMENTS, 200),
    ]
    assert all(me.employee_no not in e["resource"] for e in entries)


def test_without_a_champion_reads_say_so_and_posts_are_stored(
    service_settings: ServiceSettings, service_keyring: Keyring, tmp_path: Path
) -> None:
    settings = service_settings.model_copy(
        update={"mlflow_tracking_uri": f"sqlite:///{tmp_path / 'none.db'}"}
    )
    with TestClient(create_app(settings)) as client:
        models = {m["name"]: m for m in client.get("/readyz").json()["models"]}
        for name in ("mastery", "study-recommender"):
            assert models[name]["loaded"] is False
            assert f"{name}@champion" in models[name]["reason"]
        headers = bearer(service_keyring, "E1001", "member")
        for url in (mastery_url("E1001"), recommendations_url("E1001")):
            response = client.get(url, headers=headers)
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "model_unavailable"
        posted = client.post(STATEMENTS, json=statement("E1001"), headers=headers | VERSION)
        assert posted.status_code == 200, posted.text
    assert not (tmp_path / "none.db").exists()


# --------------------------------------------------------------------------------------------
# Through a real uvicorn server


@pytest.fixture
def server(
    installation: ServiceSettings, small_installation: dict[str, str], tmp_path: Path
) -> Iterator[str]:
    """``python -m serving run`` on a free port, on its own copy of the store (DuckDB allows
    one writing process per file) and the module's registry."""
    with served(
        installation, small_installation, tmp_path, startup_seconds=STARTUP_SECONDS
    ) as base_url:
        yield base_url


def test_statements_and_suggestions_through_a_real_server(
    server: str, keys: Keyring, people: list[Person]
) -> None:
    me = people[0]
    headers = bearer(keys, me.employee_no, "member", ttl=timedelta(minutes=2))
    with httpx.Client(base_url=server, timeout=60) as http:
        models = {m["name"]: m for m in http.get("/readyz").json()["models"]}
        assert models["mastery"]["loaded"]
        assert models["study-recommender"]["loaded"]
        batch = [statement(me.employee_no, when=datetime(2025, 12, 9, h)) for h in range(3)]
        posted = http.post(STATEMENTS, json=batch, headers=headers | VERSION)
        assert posted.status_code == 200, posted.text
        assert len(posted.json()) == 3
        response = http.get(
            f"{recommendations_url(me.employee_no)}?k=5&as_of={AS_OF}", headers=headers
        )
        assert response.status_code == 200, response.text
        assert 0 < len(response.json()["items"]) <= 5
