"""The procurement risk routes over real components: the small world ingested into a real
encrypted store, a model trained and registered by the real training code in a SQLite MLflow
registry, its batch scoring written to ``alerts``, and the app built on all of it."""

from __future__ import annotations

import copy
import csv
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from core.settings import Keyring
from features.procurement.build import features_for_release
from features.procurement.collusion.point_in_time import COLLUSION_SCORE
from serving.api.schemas.common import BUSINESS_TZ
from serving.api.schemas.procurement import RiskAssessmentOut
from serving.app import create_app
from serving.jobs.procurement import ProcurementRisk
from serving.settings import ServiceSettings
from tests.champions import RISK_OPTIONS, copy_installation
from tests.serving.conftest import audited_store, bearer
from tests.serving.installations import served, store_of
from training.procurement_risk import (
    labels_from_outcomes,
    read_audit_outcomes,
)
from world.layout import TRUTH_PROCESS_SCHEMES

SMALL_OPTIONS = RISK_OPTIONS  # the options of the session's trained risk champion
RISK = "/v1/procurement/risk"
ALERTS = "/v1/procurement/alerts"
STARTUP_SECONDS = 60


@pytest.fixture(scope="module")
def installation(
    trained_installation: ServiceSettings, tmp_path_factory: pytest.TempPathFactory
) -> ServiceSettings:
    """A copy of the session's trained installation: the small installation, a champion
    trained on it by the training code, and the champion's warnings written to ``alerts``."""
    return copy_installation(trained_installation, tmp_path_factory.mktemp("procurement-api"))


@pytest.fixture(scope="module")
def keys(installation: ServiceSettings) -> Keyring:
    return installation.keyring()


@pytest.fixture(scope="module")
def api(installation: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(create_app(installation)) as client:
        yield client


@pytest.fixture(scope="module")
def releases(installation: ServiceSettings) -> list[dict[str, Any]]:
    path = installation.resolved_world_dir / "procurement" / "releases.jsonl"
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _competitive(release: dict[str, Any]) -> bool:
    details = release.get("bids", {}).get("details", [])
    method = release.get("tender", {}).get("procurementMethod")
    return bool(release.get("awards")) and method != "direct" and len(details) >= 2


@pytest.fixture(scope="module")
def alerted_release(api: TestClient, releases: list[dict[str, Any]]) -> dict[str, Any]:
    """A competitive, awarded release that batch scoring warned about."""
    with store_of(api) as store:
        alerted = set(store.query("SELECT ocid FROM alerts")["ocid"])
    return next(r for r in releases if r["ocid"] in alerted and _competitive(r))


def _risk(client: TestClient) -> ProcurementRisk:
    risk: ProcurementRisk = client.app.state.procurement.risk  # type: ignore[attr-defined]
    return risk


def _procurement_model(readiness: dict[str, Any]) -> dict[str, Any]:
    """This model's entry in ``/readyz`` (other models are listed beside it)."""
    [model] = [m for m in readiness["models"] if m["name"] == "procurement-risk"]
    return model


def auditor(keys: Keyring) -> dict[str, str]:
    return bearer(keys, "audit.zhao", "auditor")


def manager(keys: Keyring) -> dict[str, str]:
    return bearer(keys, "buyer.wang", "procurement_manager")


# --------------------------------------------------------------------------------------------
# Scoring


def test_readiness_names_the_loaded_model(api: TestClient) -> None:
    body = api.get("/readyz").json()
    assert body["status"] == "ready"
    model = _procurement_model(body)
    assert datetime.fromisoformat(model.pop("loaded_at")).utcoffset() == timedelta(0)
    assert model == {
        "name": "procurement-risk",
        "alias": "champion",
        "loaded": True,
        "version": "1",
        "reason": None,
        "load_error": None,
        "feature_settings_warning": None,
    }


def test_risk_of_a_real_release(
    api: TestClient, keys: Keyring, alerted_release: dict[str, Any]
) -> None:
    response = api.post(RISK, json=alerted_release, headers=manager(keys))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ocid"] == alerted_release["ocid"]
    assert 0.0 <= body["probability"] <= 1.0
    assert body["warning_level"] in {"red", "orange", "yellow", "none"}
    assert body["model"] == {"name": "procurement-risk", "version": "1"}
    assert body["supplier_known"] is True
    assert body["unseen_categories"] == {}
    reasons = body["reasons"]
    assert 0 < len(reasons) <= 5
    for reason in reasons:
        assert reason["sentence_en"]
        assert reason["sentence_zh"]
        assert reason["direction"] == ("raises" if reason["contribution"] > 0 else "lowers")
    for flag in body["red_flags"]:
        assert flag["code"].startswith("R")
        assert flag["description_zh"]

    # The reasons are the five largest |SHAP| of the model's own explanation, which adds up
    # (with the bias) to the raw score the probability was calibrated from.
    risk = _risk(api)
    frame = features_for_release(risk.history, alerted_release)
    contributions = risk.model.contributions(frame)[0]
    per_feature = contributions[:-1]
    largest = np.argsort(-np.abs(per_feature), kind="stable")[: len(reasons)]
    assert [r["feature"] for r in reasons] == [risk.model.feature_names[j] for j in largest]
    assert [r["contribution"] for r in reasons] == pytest.approx(per_feature[largest].tolist())
    assert body["expected_value"] == pytest.approx(contributions[-1])
    assert body["raw_score"] == pytest.approx(contributions.sum())
    assert body["raw_score"] == pytest.approx(risk.model.raw_score(frame)[0])


def test_the_answer_is_the_documented_model(
    api: TestClient, keys: Keyring, alerted_release: dict[str, Any]
) -> None:
    """The route serialises its answer itself (``model_response``): the body must still be
    exactly the ``RiskAssessmentOut`` the OpenAPI schema names."""
    body = api.post(RISK, json=alerted_release, headers=manager(keys)).json()
    assert RiskAssessmentOut.model_validate(body).model_dump(mode="json") == body
    schema = api.get("/openapi.json").json()
    answer = schema["paths"][RISK]["post"]["responses"]["200"]["content"]["application/json"]
    assert answer["schema"]["$ref"].endswith("/RiskAssessmentOut")


def test_online_answer_equals_the_batch_warning(
    api: TestClient, keys: Keyring, alerted_release: dict[str, Any]
) -> None:
    """The release sent over HTTP scores exactly as batch scoring scored the stored process."""
    body = api.post(RISK, json=alerted_release, headers=auditor(keys)).json()
    with store_of(api) as store:
        stored = store.query(
            "SELECT probability, warning_level, reasons FROM alerts WHERE ocid = ?",
            [alerted_release["ocid"]],
        ).iloc[0]
    assert body["probability"] == pytest.approx(stored["probability"], abs=1e-9)
    assert body["warning_level"] == stored["warning_level"]
    assert [r["feature"] for r in body["reasons"]] == [
        r["feature"] for r in json.loads(stored["reasons"])
    ]


def test_unknown_supplier_is_scored_without_its_history(
    api: TestClient, keys: Keyring, alerted_release: dict[str, Any]
) -> None:
    release = copy.deepcopy(alerted_release)
    winner = release["awards"][0]["suppliers"][0]["id"]
    renamed = "SUP-NOT-IN-REGISTER"
    for bid in release["bids"]["details"]:
        for tenderer in bid.get("tenderers", []):
            if tenderer["id"] == winner:
                tenderer["id"] = renamed
    release["awards"][0]["suppliers"][0]["id"] = renamed
    for party in release.get("parties", []):
        if party.get("id") == winner:
            party["id"] = renamed
    response = api.post(RISK, json=release, headers=auditor(keys))
    assert response.status_code == 200, response.text
    assert response.json()["supplier_known"] is False


def _without_bids(release: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(release)
    changed["bids"]["details"] = []
    return changed


def _amount_as_text(release: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(release)
    changed["awards"][0]["value"]["amount"] = "abc"
    return changed


def _without_ocid(release: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(release)
    del changed["ocid"]
    return changed


@pytest.mark.parametrize(
    ("make_body", "loc"),
    [
        (lambda release: [release], ["body"]),
        (lambda release: "not a release", ["body"]),
        (_amount_as_text, ["body", "awards", 0, "value", "amount"]),
        (_without_bids, ["body", "bids", "details"]),
        (_without_ocid, ["body", "ocid"]),
    ],
    ids=["a-list", "a-string", "amount-as-text", "empty-bids", "missing-ocid"],
)
def test_bad_releases_get_a_422_with_where(
    api: TestClient,
    keys: Keyring,
    alerted_release: dict[str, Any],
    make_body: Any,
    loc: list[str | int],
) -> None:
    response = api.post(RISK, json=make_body(alerted_release), headers=auditor(keys))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["request_id"]
    [detail] = error["details"]
    assert detail["loc"] == loc
    assert detail["msg"]


def test_malformed_shapes_never_crash(
    api: TestClient, keys: Keyring, alerted_release: dict[str, Any]
) -> None:
    shapes: list[dict[str, Any]] = [
        {"ocid": "ocds-x-1"},
        {"ocid": "ocds-x-2", "tender": "open"},
        {"ocid": "ocds-x-3", "awards": {"id": "a"}},
        {"ocid": "ocds-x-4", "bids": {"details": "none"}},
        {**copy.deepcopy(alerted_release), "awards": [{"id": "a", "value": {"amount": None}}]},
        {**copy.deepcopy(alerted_release), "tender": {"items": [{"quantity": "ten"}]}},
        {"ocid": " "},
    ]
    for shape in shapes:
        response = api.post(RISK, json=shape, headers=auditor(keys))
        assert response.status_code in (200, 422), (shape, response.text)
        if response.status_code == 422:
            assert response.json()["error"]["details"][0]["loc"][0] == "body"


def test_batch_answers_every_release_in_order(
    api: TestClient, keys: Keyring, releases: list[dict[str, Any]]
) -> None:
    good = [r for r in releases if _competitive(r)][:3]
    sent: list[Any] = [good[0], {"ocid": 42}, good[1], "text", good[2]]
    body = {"releases": sent}
    response = api.post(f"{RISK}/batch", json=body, headers=auditor(keys))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [item["index"] for item in answer["items"]] == [0, 1, 2, 3, 4]
    assert (answer["scored"], answer["failed"]) == (3, 2)
    for position in (0, 2, 4):
        item = answer["items"][position]
        assert item["error"] is None
        assert item["result"]["ocid"] == sent[position]["ocid"]
    assert answer["items"][1]["error"]["details"][0]["loc"] == ["body", "releases", 1, "ocid"]
    assert answer["items"][3]["error"]["details"][0]["loc"] == ["body", "releases", 3]
    # each item scores as it would alone
    alone = api.post(RISK, json=good[1], headers=auditor(keys)).json()
    assert answer["items"][2]["result"]["probability"] == pytest.approx(alone["probability"])


def test_planted_rings_carry_their_collusion_score(
    api: TestClient, keys: Keyring, installation: ServiceSettings, releases: list[dict[str, Any]]
) -> None:
    """Every planted bid-rigging process with three bids or more gets a collusion score in its
    answer, the feature the model saw; a process with fewer bids gets none."""
    truth = installation.resolved_truth_dir / TRUTH_PROCESS_SCHEMES
    with truth.open(encoding="utf-8") as handle:
        rigged = {row["ocid"] for row in csv.DictReader(handle) if row["scheme"] == "bid_rigging"}

    def bid_count(release: dict[str, Any]) -> int:
        return len(release.get("bids", {}).get("details", []))

    rings = [r for r in releases if r["ocid"] in rigged and _competitive(r) and bid_count(r) >= 3]
    few = [r for r in releases if _competitive(r) and bid_count(r) == 2][:1]
    assert rings
    body = {"releases": rings[-5:] + few}
    answer = api.post(f"{RISK}/batch", json=body, headers=auditor(keys)).json()
    results = [item["result"] for item in answer["items"]]
    risk = _risk(api)
    for release, result in zip(rings[-5:], results, strict=False):
        expected = features_for_release(risk.history, release)[COLLUSION_SCORE].iloc[0]
        assert result["collusion_score"] is not None
        assert 0.0 <= result["collusion_score"] <= 1.0
        assert result["collusion_score"] == pytest.approx(expected)
    if few:
        assert results[-1]["collusion_score"] is None


def test_batch_size_is_limited(api: TestClient, keys: Keyring) -> None:
    empty = api.post(f"{RISK}/batch", json={"releases": []}, headers=auditor(keys))
    assert empty.status_code == 422
    too_many = api.post(
        f"{RISK}/batch", json={"releases": [{"ocid": "x"}] * 501}, headers=auditor(keys)
    )
    assert too_many.status_code == 422
    assert too_many.json()["error"]["details"][0]["loc"] == ["body", "releases"]


# --------------------------------------------------------------------------------------------
# Roles and the audit log


@pytest.mark.parametrize("role", ["member", "esg_analyst", "party_officer"])
def test_other_roles_cannot_read(
    api: TestClient, keys: Keyring, role: str, alerted_release: dict[str, Any]
) -> None:
    headers = bearer(keys, "E1001", role)
    assert api.post(RISK, json=alerted_release, headers=headers).status_code == 403
    assert api.get(ALERTS, headers=headers).status_code == 403


def test_credentials_are_required(api: TestClient, alerted_release: dict[str, Any]) -> None:
    response = api.post(RISK, json=alerted_release)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert api.get(ALERTS).status_code == 401


def test_procurement_manager_cannot_review(api: TestClient, keys: Keyring) -> None:
    first = api.get(ALERTS, headers=manager(keys)).json()["alerts"][0]
    response = api.post(
        f"{ALERTS}/{first['alert_id']}/review",
        json={"verdict": "dismissed"},
        headers=manager(keys),
    )
    assert response.status_code == 403


def test_every_read_is_in_the_audit_log(
    api: TestClient, keys: Keyring, alerted_release: dict[str, Any]
) -> None:
    headers = manager(keys)
    api.post(RISK, json=alerted_release, headers=headers | {"X-Request-ID": "risk-read"})
    api.get(f"{ALERTS}?limit=1", headers=headers | {"X-Request-ID": "alerts-read"})
    api.get(ALERTS, headers=bearer(keys, "E1001", "member") | {"X-Request-ID": "alerts-denied"})
    with audited_store(api) as store:
        entries = store.query(
            "SELECT request_id, action, resource, status_code, role FROM audit_log "
            "WHERE request_id IN ('risk-read', 'alerts-read', 'alerts-denied') ORDER BY seq"
        ).to_dict("records")
    assert [(e["request_id"], e["action"], e["resource"], e["status_code"]) for e in entries] == [
        ("risk-read", "POST", RISK, 200),
        ("alerts-read", "GET", ALERTS, 200),
        ("alerts-denied", "GET", ALERTS, 403),
    ]
    assert [e["role"] for e in entries] == ["procurement_manager", "procurement_manager", "member"]


# --------------------------------------------------------------------------------------------
# Alerts


def test_alerts_are_ordered_and_paged(api: TestClient, keys: Keyring) -> None:
    everything = api.get(f"{ALERTS}?limit=500", headers=auditor(keys)).json()
    total = everything["total"]
    assert total == len(everything["alerts"]) > 10
    probabilities = [a["probability"] for a in everything["alerts"]]
    assert probabilities == sorted(probabilities, reverse=True)
    pages = [
        api.get(f"{ALERTS}?limit=4&offset={offset}", headers=auditor(keys)).json()
        for offset in (0, 4, 8)
    ]
    assert all(page["total"] == total for page in pages)
    paged = [a["alert_id"] for page in pages for a in page["alerts"]]
    assert paged == [a["alert_id"] for a in everything["alerts"][:12]]
    assert (pages[1]["limit"], pages[1]["offset"]) == (4, 4)


def test_alerts_filter(api: TestClient, keys: Keyring) -> None:
    headers = auditor(keys)
    everything = api.get(f"{ALERTS}?limit=500", headers=headers).json()["alerts"]

    red_or_orange = api.get(f"{ALERTS}?level=red&level=orange&limit=500", headers=headers).json()
    expected = [a["alert_id"] for a in everything if a["warning_level"] in {"red", "orange"}]
    assert [a["alert_id"] for a in red_or_orange["alerts"]] == expected
    assert red_or_orange["total"] == len(expected)

    buyer = everything[0]["buyer_id"]
    by_buyer = api.get(f"{ALERTS}?buyer_id={buyer}&limit=500", headers=headers).json()
    assert by_buyer["total"] == sum(a["buyer_id"] == buyer for a in everything)

    supplier = next(a["supplier_ids"][0] for a in everything if a["supplier_ids"])
    by_supplier = api.get(f"{ALERTS}?supplier_id={supplier}&limit=500", headers=headers).json()
    assert by_supplier["total"] == sum(supplier in a["supplier_ids"] for a in everything) > 0

    # the filter's days are Asia/Shanghai calendar days; decision dates are sent in UTC
    local_days = [
        datetime.fromisoformat(a["decision_date"]).astimezone(BUSINESS_TZ).date()
        for a in everything
    ]
    day = local_days[0]
    one_day = api.get(f"{ALERTS}?date_from={day}&date_to={day}&limit=500", headers=headers).json()
    assert one_day["total"] == local_days.count(day) > 0

    assert api.get(f"{ALERTS}?level=purple", headers=headers).status_code == 422
    backwards = api.get(f"{ALERTS}?date_from=2025-05-01&date_to=2025-04-01", headers=headers)
    assert backwards.status_code == 422
    assert api.get(f"{ALERTS}?limit=501", headers=headers).status_code == 422


def test_alert_detail_and_unknown_alert(api: TestClient, keys: Keyring) -> None:
    first = api.get(f"{ALERTS}?limit=1", headers=manager(keys)).json()["alerts"][0]
    detail = api.get(f"{ALERTS}/{first['alert_id']}", headers=manager(keys))
    assert detail.status_code == 200
    body = detail.json()
    assert body["ocid"] == first["ocid"]
    assert 0 < len(body["reasons"]) <= 5
    assert all(r["sentence_zh"] and r["sentence_en"] for r in body["reasons"])
    assert [f["code"] for f in body["red_flags"]] == first["red_flag_codes"]
    assert isinstance(body["history"], list)
    missing = api.get(f"{ALERTS}/{'0' * 64}", headers=manager(keys))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert api.get(f"{ALERTS}/not-an-id", headers=manager(keys)).status_code == 422


def test_review_flow(api: TestClient, keys: Keyring) -> None:
    from core.security import PersonalData

    alert = api.get(f"{ALERTS}?status=open&limit=1&offset=3", headers=auditor(keys)).json()
    alert_id, ocid = alert["alerts"][0]["alert_id"], alert["alerts"][0]["ocid"]
    url = f"{ALERTS}/{alert_id}/review"

    asked = api.post(
        url,
        json={"verdict": "needs_information", "comment": "请补充报价明细"},
        headers=auditor(keys),
    )
    assert asked.status_code == 200, asked.text
    assert asked.json()["status"] == "needs_information"
    confirmed = api.post(
        url,
        json={"verdict": "confirmed", "scheme": "bid_rigging", "comment": "围标：报价同源"},
        headers=auditor(keys),
    )
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert body["status"] == "confirmed"
    reviewer = PersonalData(keys).pseudonymiser.pseudonym("subject", "audit.zhao")
    assert [(h["verdict"], h["scheme"], h["comment"], h["reviewer"]) for h in body["history"]] == [
        ("needs_information", None, "请补充报价明细", reviewer),
        ("confirmed", "bid_rigging", "围标：报价同源", reviewer),
    ]

    # a manager sees the history without the comments
    seen = api.get(f"{ALERTS}/{alert_id}", headers=manager(keys)).json()
    assert [h["comment"] for h in seen["history"]] == [None, None]
    assert seen["status"] == "confirmed"
    filtered = api.get(f"{ALERTS}?status=confirmed", headers=manager(keys)).json()
    assert alert_id in [a["alert_id"] for a in filtered["alerts"]]

    # stored as an audit outcome the next training run reads as a positive label
    with store_of(api) as store:
        outcomes = read_audit_outcomes(store)
        origins = store.query(
            "SELECT finding, scheme, origin, confirmed_at FROM audit_outcomes WHERE ocid = ? "
            "AND origin = 'review' ORDER BY finding",
            [ocid],
        )
        comments = store.query("SELECT comment_enc FROM reviews WHERE alert_id = ?", [alert_id])
    assert origins["finding"].tolist() == ["confirmed", "needs_information"]
    assert origins["scheme"].tolist() == ["bid_rigging", ""]
    assert set(origins["origin"]) == {"review"}
    labels = labels_from_outcomes(outcomes).set_index("ocid")
    assert labels.loc[ocid, "label"] == 1
    assert all(b"\xe5\x9b\xb4" not in bytes(c) for c in comments["comment_enc"])  # encrypted


@pytest.mark.parametrize(
    "review",
    [
        {"verdict": "confirmed"},
        {"verdict": "confirmed", "scheme": "embezzlement"},
        {"verdict": "dismissed", "scheme": "bid_rigging"},
        {"verdict": "approved"},
        {"verdict": "dismissed", "comment": "x" * 2001},
    ],
    ids=["no-scheme", "unknown-scheme", "dismissed-with-scheme", "bad-verdict", "long-comment"],
)
def test_bad_reviews_are_refused(api: TestClient, keys: Keyring, review: dict[str, Any]) -> None:
    alert_id = api.get(f"{ALERTS}?limit=1", headers=auditor(keys)).json()["alerts"][0]["alert_id"]
    response = api.post(f"{ALERTS}/{alert_id}/review", json=review, headers=auditor(keys))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_review_of_an_unknown_alert(api: TestClient, keys: Keyring) -> None:
    response = api.post(
        f"{ALERTS}/{'f' * 64}/review", json={"verdict": "dismissed"}, headers=auditor(keys)
    )
    assert response.status_code == 404


# --------------------------------------------------------------------------------------------
# Without a champion


@pytest.mark.parametrize("registry", ["missing-file", "empty-registry"])
def test_without_a_champion_the_service_starts_and_says_so(
    service_settings: ServiceSettings,
    service_keyring: Keyring,
    tmp_path: Path,
    registry: str,
) -> None:
    database = tmp_path / "mlflow.db"
    uri = f"sqlite:///{database}"
    if registry == "empty-registry":
        import mlflow

        mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri).search_registered_models()
        assert database.exists()
    settings = service_settings.model_copy(update={"mlflow_tracking_uri": uri})
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200
        model = _procurement_model(ready.json())
        assert model["loaded"] is False
        assert "procurement-risk@champion" in model["reason"]
        assert str(tmp_path) not in ready.text
        headers = bearer(service_keyring, "audit.zhao", "auditor")
        response = client.post(RISK, json={"ocid": "ocds-x-1"}, headers=headers)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "model_unavailable"
        batch = client.post(f"{RISK}/batch", json={"releases": [{}]}, headers=headers)
        assert batch.status_code == 503
        # the alerts live in the store: they stay readable
        assert client.get(ALERTS, headers=headers).json()["total"] == 0
        # credentials are checked before the model: no state leaks to anonymous callers
        assert client.post(RISK, json={"ocid": "x"}).status_code == 401
    assert (registry == "empty-registry") == database.exists()


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


def test_risk_through_a_real_server(
    server: str, keys: Keyring, alerted_release: dict[str, Any]
) -> None:
    token = bearer(keys, "audit.zhao", "auditor", ttl=timedelta(minutes=2))
    with httpx.Client(base_url=server, timeout=30) as http:
        assert _procurement_model(http.get("/readyz").json())["loaded"] is True
        response = http.post(RISK, json=alerted_release, headers=token)
        assert response.status_code == 200, response.text
        body = response.json()
        assert 0.0 <= body["probability"] <= 1.0
        assert len(body["reasons"]) <= 5
        assert body["model"]["version"] == "1"
        bad = http.post(RISK, json=_amount_as_text(alerted_release), headers=token)
        assert bad.status_code == 422
        assert bad.json()["error"]["details"][0]["loc"] == ["body", "awards", 0, "value", "amount"]


# --------------------------------------------------------------------------------------------
# Members' reports reach the live features


def _live_report_ids(client: TestClient) -> set[str]:
    return set(_risk(client).history.reports.reports["report_id"].astype(str))


def test_a_report_filed_through_the_api_reaches_the_live_history(
    api: TestClient, keys: Keyring, alerted_release: dict[str, Any]
) -> None:
    """A linked report counts for processes scored after it without a reload; one linked to
    nothing is not pushed; a handler's new kind replaces the pushed one."""
    supplier = alerted_release["awards"][0]["suppliers"][0]["id"]
    member = bearer(keys, "E1001", "member")
    linked = api.post(
        "/v1/feedback",
        json={"text": "该供应商报价明显高于市场价，疑似围标", "supplier_id": supplier},
        headers=member,
    )
    assert linked.status_code == 201, linked.text
    report_id, handler = linked.json()["report_id"], linked.json()["route_role"]
    assert report_id in _live_report_ids(api)

    loose = api.post("/v1/feedback", json={"text": "食堂排队时间太长了"}, headers=member)
    assert loose.status_code == 201, loose.text
    assert loose.json()["report_id"] not in _live_report_ids(api)

    moved = api.post(
        f"/v1/feedback/{report_id}/state",
        json={"to_state": "resolved", "handler_kind": "quality"},
        headers=bearer(keys, "handler.li", handler),
    )
    assert moved.status_code == 200, moved.text
    reports = _risk(api).history.reports.reports.set_index("report_id")
    assert reports.loc[report_id, "kind"] == "quality"
