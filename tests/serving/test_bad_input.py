"""Bad input gets a clear 4xx in the shared error shape, never a 500; what the API sends and
documents is what it does: every instant with an offset, every status a route answers in
its OpenAPI entry.

Two apps: the light one of ``conftest`` (a real store with two members, no model) for what
needs no model, and the small demo installation with every champion trained on it for the
routes that need one (their dependencies answer 503 before a parameter is judged)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.settings import Keyring
from serving.api.schemas.common import BUSINESS_TZ, MAX_OFFSET, WhoAmI, model_response
from serving.app import create_app
from serving.platform.errors import ErrorResponse
from serving.settings import ServiceSettings
from tests.champions import copy_installation
from tests.serving.conftest import bearer
from tests.serving.installations import store_of

OUT_OF_RANGE_DATES = ["0001-01-01", "1899-12-31", "2101-01-01", "9999-12-31"]
OUT_OF_RANGE_MOMENTS = ["0001-01-01T00:00:00", "9999-12-31T23:59:59+08:00"]
SURROGATE = "\ud800"
PAGED = ["/v1/audit-log", "/v1/admin/revocations", "/v1/procurement/alerts"]
TOO_LARGE = [str(MAX_OFFSET + 1), str(2**63), str(10**30)]


def security_auditor(keys: Keyring) -> dict[str, str]:
    return bearer(keys, "sec.qian", "security_auditor")


def admin(keys: Keyring) -> dict[str, str]:
    return bearer(keys, "admin.sun", "admin")


def auditor(keys: Keyring) -> dict[str, str]:
    return bearer(keys, "audit.zhao", "auditor")


def esg_analyst(keys: Keyring) -> dict[str, str]:
    return bearer(keys, "esg.li", "esg_analyst")


def reader_of(path: str, keys: Keyring) -> dict[str, str]:
    if path == "/v1/audit-log":
        return security_auditor(keys)
    return admin(keys) if path.startswith("/v1/admin") else auditor(keys)


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is ``status`` with ``code``, in the shared error shape."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    ErrorResponse.model_validate(body)
    assert body["error"]["code"] == code
    return body


# --------------------------------------------------------------------------------------------
# Without a model: paging, media types, text, the OpenAPI contract


@pytest.mark.parametrize("path", PAGED)
@pytest.mark.parametrize("name", ["offset", "limit"])
@pytest.mark.parametrize("value", TOO_LARGE)
def test_huge_paging_values_are_422(
    client: TestClient, service_keyring: Keyring, path: str, name: str, value: str
) -> None:
    response = client.get(f"{path}?{name}={value}", headers=reader_of(path, service_keyring))
    body = assert_error(response, 422, "validation_error")
    assert body["error"]["details"][0]["loc"] == ["query", name]


@pytest.mark.parametrize("path", PAGED)
def test_the_largest_offset_is_answered(
    client: TestClient, service_keyring: Keyring, path: str
) -> None:
    response = client.get(f"{path}?offset={MAX_OFFSET}", headers=reader_of(path, service_keyring))
    assert response.status_code == 200, response.text
    assert response.json()["offset"] == MAX_OFFSET


def test_a_huge_audit_anchor_is_422(client: TestClient, service_keyring: Keyring) -> None:
    response = client.get(
        f"/v1/audit-log?anchor_seq={2**64}&anchor_hash={'0' * 64}",
        headers=security_auditor(service_keyring),
    )
    assert_error(response, 422, "validation_error")


@pytest.mark.parametrize("day", OUT_OF_RANGE_DATES)
@pytest.mark.parametrize("name", ["date_from", "date_to"])
def test_alert_dates_out_of_range_are_422(
    client: TestClient, service_keyring: Keyring, day: str, name: str
) -> None:
    response = client.get(f"/v1/procurement/alerts?{name}={day}", headers=auditor(service_keyring))
    body = assert_error(response, 422, "validation_error")
    assert "1900-2100" in body["error"]["details"][0]["msg"]


# (path, role, a valid JSON body): every route that takes a JSON body
JSON_BODY_ROUTES = [
    ("/v1/xapi/statements", "admin", {}),
    ("/v1/admin/revocations", "admin", {"subject": "E1001", "reason": "left"}),
    ("/v1/procurement/risk", "auditor", {"ocid": "x"}),
    ("/v1/procurement/risk/batch", "auditor", {"releases": [{"ocid": "x"}]}),
    ("/v1/procurement/alerts/" + "0" * 64 + "/review", "auditor", {"verdict": "dismissed"}),
    ("/v1/tenders/ocds-1/esg-ranking", "esg_analyst", {}),
    ("/v1/admin/retrain", "admin", {"models": ["weather"]}),  # never a real retrain
    ("/v1/feedback", "member", {"text": "审批卡住了"}),
    ("/v1/feedback/" + "0" * 32 + "/state", "auditor", {"to_state": "resolved"}),
    ("/v1/feedback/" + "0" * 32 + "/reporter", "admin", {"reason": "x" * 30}),
]


def test_every_json_body_route_is_listed(client: TestClient) -> None:
    """The list above is complete: a new route with a body gets its media-type check here."""
    with_body = {
        path
        for path, operations in client.app.openapi()["paths"].items()  # type: ignore[attr-defined]
        for operation in operations.values()
        if "requestBody" in operation
    }
    listed = {path for path, _, _ in JSON_BODY_ROUTES}
    assert {t for t in with_body if any(_matches(t, path) for path in listed)} == with_body


@pytest.mark.parametrize(("path", "role", "body"), JSON_BODY_ROUTES)
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None]
)
def test_a_body_that_is_not_json_is_415(
    client: TestClient,
    service_keyring: Keyring,
    path: str,
    role: str,
    body: dict[str, Any],
    content_type: str | None,
) -> None:
    headers = {**bearer(service_keyring, "someone", role), "X-Experience-API-Version": "1.0.3"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = client.post(path, content=json.dumps(body).encode(), headers=headers)
    assert_error(response, 415, "unsupported_media_type")


def test_json_with_a_charset_or_a_json_suffix_is_json(
    client: TestClient, service_keyring: Keyring
) -> None:
    for content_type in ["application/json; charset=utf-8", "application/merge-patch+json"]:
        response = client.post(
            "/v1/admin/revocations",
            content=b'{"subject": "E1001", "reason": "left"}',
            headers={**admin(service_keyring), "Content-Type": content_type},
        )
        assert response.status_code == 201, response.text


def test_a_lone_surrogate_in_a_body_is_422(client: TestClient, service_keyring: Keyring) -> None:
    body = '{"subject": "E1\\ud800", "reason": "left"}'
    response = client.post(
        "/v1/admin/revocations",
        content=body.encode(),
        headers={**admin(service_keyring), "Content-Type": "application/json"},
    )
    body_out = assert_error(response, 422, "validation_error")
    assert body_out["error"]["details"][0]["loc"] == ["body", "subject"]


def test_a_lone_surrogate_in_a_review_comment_is_422(
    client: TestClient, service_keyring: Keyring
) -> None:
    response = client.post(
        "/v1/procurement/alerts/" + "0" * 64 + "/review",
        content=b'{"verdict": "dismissed", "comment": "\\udfff"}',
        headers={**auditor(service_keyring), "Content-Type": "application/json"},
    )
    assert_error(response, 422, "validation_error")


def test_a_statement_with_a_lone_surrogate_is_rejected_alone(
    client: TestClient, service_keyring: Keyring
) -> None:
    """Rejected and quarantined with its reason, as any invalid statement; no 500."""
    body = '[{"id": "\\ud800", "actor": {"name": "\\udc00"}}]'
    response = client.post(
        "/v1/xapi/statements",
        content=body.encode(),
        headers={
            **admin(service_keyring),
            "Content-Type": "application/json",
            "X-Experience-API-Version": "1.0.3",
        },
    )
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["error"]["code"] == "invalid_statements"
    assert answer["rejected"] == [
        {"index": 0, "statement_id": None, "reason": answer["rejected"][0]["reason"]}
    ]
    assert "surrogate" in answer["rejected"][0]["reason"]
    with store_of(client) as store:
        reasons = store.query("SELECT reason FROM quarantine")["reason"].tolist()
    assert any("surrogate" in reason for reason in reasons)


@pytest.mark.parametrize(
    "url",
    [
        "/v1/procurement/alerts?buyer_id=%ED%A0%80",  # U+D800 as (invalid) UTF-8
        "/v1/procurement/alerts?supplier_id=%FF%FE",
        "/v1/procurement/alerts?model_version=%C3",
        "/v1/procurement/alerts/%ED%A0%80",
        "/v1/members/%ED%A0%80",
        "/v1/suppliers/%ED%A0%80/esg",
    ],
)
def test_undecodable_escapes_in_urls_are_no_server_error(
    client: TestClient, service_keyring: Keyring, url: str
) -> None:
    response = client.get(url, headers=auditor(service_keyring))
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        ErrorResponse.model_validate(response.json())


def test_a_response_holding_a_lone_surrogate_is_sent() -> None:
    """The response side never fails on a string (the defence behind the input checks)."""
    answer = WhoAmI(subject=f"E1{SURROGATE}", role="member", expires_at=datetime(2030, 1, 1))
    response = model_response(answer)
    assert response.status_code == 200
    assert json.loads(bytes(response.body))["subject"] == "E1\ufffd"


V1_STATUSES = {"401", "403", "413", "422", "429", "503"}


def test_every_route_documents_what_it_answers(client: TestClient) -> None:
    spec = client.app.openapi()  # type: ignore[attr-defined]
    checked = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            documented = set(operation["responses"])
            expected = set(V1_STATUSES) if path.startswith("/v1/") else set()
            if "{" in path:
                expected.add("404")
            if "requestBody" in operation:
                expected |= {"400", "415"}
            assert expected <= documented, f"{method} {path} misses {expected - documented}"
            for status in documented - {"200", "201"}:
                schema = operation["responses"][status]["content"]["application/json"]["schema"]
                assert "$ref" in schema, f"{method} {path} {status}"
            checked += 1
    assert checked >= 18
    assert "409" in spec["paths"]["/v1/xapi/statements"]["post"]["responses"]


def test_dates_say_their_range_and_time_zone(client: TestClient) -> None:
    spec = client.app.openapi()  # type: ignore[attr-defined]
    alerts = {p["name"]: p for p in spec["paths"]["/v1/procurement/alerts"]["get"]["parameters"]}
    described = alerts["date_from"]["description"]
    assert "Asia/Shanghai" in described
    assert "1900-2100" in described


# --------------------------------------------------------------------------------------------
# The demo installation with every champion


@pytest.fixture(scope="module")
def demo(
    trained_installation: ServiceSettings, tmp_path_factory: pytest.TempPathFactory
) -> ServiceSettings:
    """A copy of the session's trained installation: every champion trained on the small
    installation (small, fast options) and the risk champion's warnings written to
    ``alerts``."""
    return copy_installation(trained_installation, tmp_path_factory.mktemp("bad-input"))


@pytest.fixture(scope="module")
def demo_keys(demo: ServiceSettings) -> Keyring:
    return demo.keyring()


@pytest.fixture(scope="module")
def api(demo: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(create_app(demo)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def release(demo: ServiceSettings) -> dict[str, Any]:
    """An awarded release of the demo world, with its award date."""
    path = demo.resolved_world_dir / "procurement" / "releases.jsonl"
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            found: dict[str, Any] = json.loads(line)
            if found.get("awards") and found["awards"][0].get("date"):
                return found
    raise AssertionError("the demo world has no awarded release")


@pytest.fixture(scope="module")
def known(api: TestClient, demo_keys: Keyring) -> dict[str, str]:
    """A member's employee number, a supplier, a tender with bids and an alert of the demo."""
    from core.security import PersonalData

    cipher = PersonalData(demo_keys).cipher
    with store_of(api) as store:
        encrypted = store.query(
            "SELECT employee_no_enc FROM members WHERE branch_key IS NOT NULL LIMIT 1"
        )["employee_no_enc"]
        supplier = store.query("SELECT supplier_id FROM suppliers ORDER BY 1 LIMIT 1")
        tender = store.query(
            "SELECT ocid FROM bids WHERE status = 'valid' GROUP BY ocid ORDER BY ocid LIMIT 1"
        )
        alert = store.query("SELECT alert_id FROM alerts ORDER BY alert_id LIMIT 1")
    return {
        "employee_no": str(cipher.decrypt(encrypted[0], column="employee_no_enc")),
        "supplier_id": str(supplier["supplier_id"][0]),
        "ocid": str(tender["ocid"][0]),
        "alert_id": str(alert["alert_id"][0]),
    }


def with_award_date(release: dict[str, Any], moment: str) -> dict[str, Any]:
    changed = copy.deepcopy(release)
    changed["awards"][0]["date"] = moment
    return changed


@pytest.mark.parametrize("moment", [*OUT_OF_RANGE_MOMENTS, "0001-01-01T00:00:00+08:00"])
def test_risk_with_an_award_date_out_of_range_is_422(
    api: TestClient, demo_keys: Keyring, release: dict[str, Any], moment: str
) -> None:
    response = api.post(
        "/v1/procurement/risk",
        json=with_award_date(release, moment),
        headers=auditor(demo_keys),
    )
    body = assert_error(response, 422, "validation_error")
    assert body["error"]["details"][0]["loc"] == ["body", "awards", 0, "date"]


def test_risk_with_a_lone_surrogate_is_422(
    api: TestClient, demo_keys: Keyring, release: dict[str, Any]
) -> None:
    bad = copy.deepcopy(release)
    bad["ocid"] = f"ocds-{SURROGATE}"
    response = api.post(
        "/v1/procurement/risk",
        content=json.dumps(bad).encode(),  # ensure_ascii: the surrogate travels as \ud800
        headers={**auditor(demo_keys), "Content-Type": "application/json"},
    )
    body = assert_error(response, 422, "validation_error")
    assert body["error"]["details"][0]["loc"] == ["body", "ocid"]


def test_a_batch_answers_bad_items_one_by_one(
    api: TestClient, demo_keys: Keyring, release: dict[str, Any]
) -> None:
    surrogate_id = copy.deepcopy(release)
    surrogate_id["buyer"] = {"id": f"BUY{SURROGATE}"}
    releases = [
        release,
        with_award_date(release, "9999-12-31T00:00:00Z"),
        surrogate_id,
        with_award_date(release, "0001-01-01"),
        release,
    ]
    response = api.post(
        "/v1/procurement/risk/batch",
        content=json.dumps({"releases": releases}).encode(),
        headers={**auditor(demo_keys), "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["scored"], answer["failed"]) == (2, 3)
    items = answer["items"]
    assert [item["error"] is None for item in items] == [True, False, False, False, True]
    assert items[1]["error"]["details"][0]["loc"] == ["body", "releases", 1, "awards", 0, "date"]
    assert items[2]["error"]["details"][0]["loc"] == ["body", "releases", 2, "buyer", "id"]
    assert items[0]["result"] == items[4]["result"]


@pytest.mark.parametrize("day", OUT_OF_RANGE_DATES)
def test_esg_dates_out_of_range_are_422(
    api: TestClient, demo_keys: Keyring, known: dict[str, str], day: str
) -> None:
    headers = esg_analyst(demo_keys)
    supplier = api.get(f"/v1/suppliers/{known['supplier_id']}/esg?as_of={day}", headers=headers)
    assert_error(supplier, 422, "validation_error")
    ranking = api.post(
        f"/v1/tenders/{known['ocid']}/esg-ranking", json={"as_of": day}, headers=headers
    )
    assert_error(ranking, 422, "validation_error")
    report = api.get(f"/v1/esg/report?from={day}&to=2025-12-31", headers=headers)
    assert_error(report, 422, "validation_error")


@pytest.mark.parametrize("moment", OUT_OF_RANGE_MOMENTS)
@pytest.mark.parametrize("route", ["recommendations", "mastery"])
def test_study_as_of_out_of_range_is_422(
    api: TestClient, demo_keys: Keyring, known: dict[str, str], moment: str, route: str
) -> None:
    response = api.get(
        f"/v1/members/{known['employee_no']}/{route}",
        params={"as_of": moment},
        headers=admin(demo_keys),
    )
    assert_error(response, 422, "validation_error")


def test_the_business_day_filter_is_a_shanghai_day(api: TestClient, demo_keys: Keyring) -> None:
    """An alert decided at 20:00 UTC belongs to the next day in Asia/Shanghai."""
    headers = auditor(demo_keys)
    everything = api.get("/v1/procurement/alerts?limit=500", headers=headers).json()["alerts"]
    local_days = [
        (datetime.fromisoformat(a["decision_date"]).astimezone(BUSINESS_TZ).date(), a["alert_id"])
        for a in everything
    ]
    day = local_days[0][0]
    one_day = api.get(
        f"/v1/procurement/alerts?date_from={day}&date_to={day}&limit=500", headers=headers
    ).json()
    assert {a["alert_id"] for a in one_day["alerts"]} == {i for d, i in local_days if d == day}


# --------------------------------------------------------------------------------------------
# Every instant sent with its offset


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def naive_datetimes(spec: dict[str, Any], schema: dict[str, Any], value: Any, at: str) -> list:
    """Where ``value``, read by ``schema``, holds a ``date-time`` string without an offset."""
    schema = _resolve(spec, schema)
    found: list[str] = []
    for option in schema.get("anyOf", []) + schema.get("allOf", []):
        found += naive_datetimes(spec, option, value, at)
    if isinstance(value, str) and schema.get("format") == "date-time":
        if datetime.fromisoformat(value).tzinfo is None:
            found.append(f"{at}: {value}")
    elif isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key, extra if isinstance(extra, dict) else {})
            found += naive_datetimes(spec, sub, item, f"{at}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += naive_datetimes(spec, schema.get("items", {}), item, f"{at}[{index}]")
    return found


def test_no_response_holds_a_naive_datetime(
    api: TestClient, demo_keys: Keyring, known: dict[str, str], release: dict[str, Any]
) -> None:
    spec = api.app.openapi()  # type: ignore[attr-defined]
    employee_no, alert_id = known["employee_no"], known["alert_id"]
    calls: list[tuple[str, str, dict[str, str], Any]] = [
        ("post", "/v1/admin/revocations", admin(demo_keys), {"subject": "x1", "reason": "left"}),
        ("get", "/v1/whoami", admin(demo_keys), None),
        ("get", "/v1/store/summary", admin(demo_keys), None),
        ("get", "/v1/audit-log", security_auditor(demo_keys), None),
        ("get", "/v1/admin/revocations", admin(demo_keys), None),
        ("get", f"/v1/members/{employee_no}", admin(demo_keys), None),
        ("post", "/v1/procurement/risk", auditor(demo_keys), release),
        ("post", "/v1/procurement/risk/batch", auditor(demo_keys), {"releases": [release]}),
        ("get", "/v1/procurement/alerts", auditor(demo_keys), None),
        ("get", f"/v1/procurement/alerts/{alert_id}", auditor(demo_keys), None),
        (
            "post",
            f"/v1/procurement/alerts/{alert_id}/review",
            auditor(demo_keys),
            {"verdict": "needs_information", "comment": "请补充"},
        ),
        ("get", f"/v1/suppliers/{known['supplier_id']}/esg", esg_analyst(demo_keys), None),
        ("post", f"/v1/tenders/{known['ocid']}/esg-ranking", esg_analyst(demo_keys), {}),
        ("get", "/v1/esg/report?from=2025-01-01&to=2025-12-31", esg_analyst(demo_keys), None),
        ("get", f"/v1/members/{employee_no}/mastery", admin(demo_keys), None),
        ("get", f"/v1/members/{employee_no}/recommendations?k=3", admin(demo_keys), None),
        (
            "get",
            f"/v1/members/{employee_no}/mastery?as_of=2025-12-15T08:00:00%2B08:00",
            admin(demo_keys),
            None,
        ),
        ("get", "/v1/branches/mine/mastery", bearer(demo_keys, employee_no, "party_officer"), None),
    ]
    seen_datetimes = 0
    for method, url, headers, body in calls:
        response = api.request(method, url, headers=headers, json=body)
        assert response.status_code in (200, 201), f"{url}: {response.text}"
        template = next(
            p
            for p in spec["paths"]
            if _matches(p, url.partition("?")[0]) and method in spec["paths"][p]
        )
        schema = spec["paths"][template][method]["responses"][str(response.status_code)]
        content = schema["content"]["application/json"]["schema"]
        assert naive_datetimes(spec, content, response.json(), url) == []
        seen_datetimes += len(_instants(response.json()))
    assert seen_datetimes > 20  # the walk did meet instants


def _matches(template: str, path: str) -> bool:
    parts, actual = template.split("/"), path.split("/")
    return len(parts) == len(actual) and all(
        t.startswith("{") or t == a for t, a in zip(parts, actual, strict=True)
    )


def _instants(value: Any) -> list[str]:
    """Every string of ``value`` that reads as a date-time (not a bare date)."""
    if isinstance(value, dict):
        return [s for item in value.values() for s in _instants(item)]
    if isinstance(value, list):
        return [s for item in value for s in _instants(item)]
    if isinstance(value, str) and len(value) > 10 and value[10:11] == "T":
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return []
        return [value]
    return []
