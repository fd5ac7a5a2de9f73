"""The supplier ESG routes over real components: the small world ingested into a real
encrypted store, the ESG model trained and registered by the real training code in a SQLite
MLflow registry, and the app built on both."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from core.settings import Keyring
from features.esg.knockouts import CATEGORY_CODES, SUPPLIER_WIDE_CODES, gates_for, knockouts_for
from models.esg.ranking import tender_bids
from serving.api.schemas.common import business_today
from serving.app import create_app
from serving.jobs.esg import SupplierEsg
from serving.settings import ServiceSettings
from tests.champions import ESG_OPTIONS, copy_installation
from tests.serving.conftest import audited_store, bearer
from tests.serving.installations import store_of

SMALL_OPTIONS = ESG_OPTIONS  # the options of the session's trained ESG champion
AS_OF = date(2025, 12, 31)
REPORT = "/v1/esg/report"


def supplier_url(supplier_id: str) -> str:
    return f"/v1/suppliers/{supplier_id}/esg"


def ranking_url(ocid: str) -> str:
    return f"/v1/tenders/{ocid}/esg-ranking"


@pytest.fixture(scope="module")
def installation(
    trained_installation: ServiceSettings, tmp_path_factory: pytest.TempPathFactory
) -> ServiceSettings:
    """A copy of the session's trained installation (the ESG champion beside the others)."""
    return copy_installation(trained_installation, tmp_path_factory.mktemp("esg-api"))


@pytest.fixture(scope="module")
def keys(installation: ServiceSettings) -> Keyring:
    return installation.keyring()


@pytest.fixture(scope="module")
def api(installation: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(create_app(installation)) as client:
        yield client


def _esg(client: TestClient) -> SupplierEsg:
    esg: SupplierEsg = client.app.state.esg.esg  # type: ignore[attr-defined]
    return esg


def _data_through(client: TestClient) -> date:
    """The date the loaded supplier history runs through (the demo world has one)."""
    through = _esg(client).history.data_through
    assert through is not None
    return through


def analyst(keys: Keyring) -> dict[str, str]:
    return bearer(keys, "esg.li", "esg_analyst")


def manager(keys: Keyring) -> dict[str, str]:
    return bearer(keys, "buyer.wang", "procurement_manager")


@pytest.fixture(scope="module")
def tender_with_a_knockout(api: TestClient) -> tuple[str, set[str]]:
    """An ocid among whose bidders at least one fails a gate at the bid deadline, and those."""
    esg = _esg(api)
    with store_of(api) as store:
        ocids = store.query(
            "SELECT ocid FROM bids WHERE status = 'valid' GROUP BY ocid "
            "HAVING COUNT(*) >= 3 ORDER BY ocid"
        )["ocid"].tolist()
        for ocid in ocids:
            tender = tender_bids(store, ocid)
            out = {
                sid
                for sid in tender.bids["supplier_id"]
                for category in tender.categories or [None]
                if knockouts_for(esg.history, sid, tender.as_of, category)
            }
            if out and len(out) < len(tender.bids):
                return ocid, out
    pytest.fail("no tender of the small world has a knocked-out bidder")


# --------------------------------------------------------------------------------------------
# A supplier


def test_readiness_names_the_esg_model(api: TestClient) -> None:
    models = {m["name"]: m for m in api.get("/readyz").json()["models"]}
    model = models["supplier-esg"]
    assert datetime.fromisoformat(model.pop("loaded_at")).utcoffset() == timedelta(0)
    assert model == {
        "name": "supplier-esg",
        "alias": "champion",
        "loaded": True,
        "version": "1",
        "reason": None,
        "load_error": None,
        "feature_settings_warning": None,
    }


def test_a_supplier_with_history(api: TestClient, keys: Keyring) -> None:
    supplier_id = _esg(api).history.supplier_ids[0]
    response = api.get(f"{supplier_url(supplier_id)}?as_of=2025-12-31", headers=analyst(keys))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["supplier_id"] == supplier_id
    assert body["as_of"] == "2025-12-31"
    assert body["model"] == {"name": "supplier-esg", "version": "1"}
    assert set(body["pillars"]) == {"E", "S", "G"}
    assert 0 < len(body["reasons"]) <= 5
    for reason in body["reasons"]:
        assert all((reason["sentence_en"], reason["sentence_zh"]))
        if reason["direction"] == "raises":
            assert all((reason["improvement_en"], reason["improvement_zh"]))
    if body["band"] != "unknown":
        assert 0 <= body["score"] <= 100
    assert body["knocked_out"] == bool(body["knockouts"]) == (not body["eligible"])
    for knockout in body["knockouts"]:
        assert all((knockout["code"], knockout["description_zh"], knockout["date"]))
        assert knockout["category"] is None
        assert body["action"] == "reject_knocked_out"
    assert body["freshness"] == {
        "data_through": _data_through(api).isoformat(),
        "days_after_data": (AS_OF - _data_through(api)).days,
        "stale": False,
        "note_en": None,
        "note_zh": None,
    }


def test_every_knockout_carries_evidence(api: TestClient, keys: Keyring) -> None:
    esg = _esg(api)
    knocked = next(
        sid for sid in esg.history.supplier_ids if knockouts_for(esg.history, sid, AS_OF)
    )
    body = api.get(f"{supplier_url(knocked)}?as_of={AS_OF}", headers=manager(keys)).json()
    assert body["knocked_out"] is True
    assert body["eligible"] is False
    assert body["action"] == "reject_knocked_out"
    assert all(k["evidence"] and k["date"] for k in body["knockouts"])
    assert {k["code"] for k in body["knockouts"]} <= SUPPLIER_WIDE_CODES


def test_a_missing_mark_restricts_its_category_not_the_supplier(
    api: TestClient, keys: Keyring
) -> None:
    esg = _esg(api)
    gates = {sid: gates_for(esg.history, sid, AS_OF) for sid in esg.history.supplier_ids}
    restricted = next(sid for sid, g in gates.items() if g.eligible and g.restrictions)
    response = api.get(f"{supplier_url(restricted)}?as_of={AS_OF}", headers=analyst(keys))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["eligible"] is True
    assert body["knocked_out"] is False
    assert body["knockouts"] == []
    assert body["action"] != "reject_knocked_out"
    expected = gates[restricted]
    assert ", ".join(expected.restricted_categories) in body["action_en"]
    assert ", ".join(expected.restricted_categories) in body["action_zh"]
    assert [c["category"] for c in body["restricted_categories"]] == list(
        expected.restricted_categories
    )
    listed = [r for c in body["restricted_categories"] for r in c["restrictions"]]
    assert [(r["code"], r["category"]) for r in listed] == [
        (r.code, r.category) for r in expected.restrictions
    ]
    for category in body["restricted_categories"]:
        for restriction in category["restrictions"]:
            assert restriction["code"] in CATEGORY_CODES
            assert restriction["category"] == category["category"]
            assert restriction["date"] == AS_OF.isoformat()
            assert restriction["description_en"]
            assert restriction["description_zh"]
    # fewer suppliers are knocked out than are restricted or knocked out (the old screen)
    knocked = sum(not g.eligible for g in gates.values())
    old_screen = sum(not g.eligible or bool(g.restrictions) for g in gates.values())
    assert knocked < old_screen


def test_freshness_flags_a_screen_long_after_the_data(api: TestClient, keys: Keyring) -> None:
    esg = _esg(api)
    supplier_id, through = esg.history.supplier_ids[0], esg.history.data_through
    assert through is not None
    late = through + timedelta(days=31)
    body = api.get(f"{supplier_url(supplier_id)}?as_of={late}", headers=analyst(keys)).json()
    assert body["freshness"]["data_through"] == through.isoformat()
    assert body["freshness"]["days_after_data"] == 31
    assert body["freshness"]["stale"] is True
    assert through.isoformat() in body["freshness"]["note_en"]
    assert through.isoformat() in body["freshness"]["note_zh"]
    on_time = through + timedelta(days=30)
    body = api.get(f"{supplier_url(supplier_id)}?as_of={on_time}", headers=analyst(keys)).json()
    assert body["freshness"]["stale"] is False
    assert body["freshness"]["note_en"] is None
    # the default is today in Asia/Shanghai: flagged exactly when today is more than 30 days
    # past the data
    body = api.get(supplier_url(supplier_id), headers=analyst(keys)).json()
    assert body["as_of"] == business_today().isoformat()
    assert body["freshness"]["stale"] is ((business_today() - through).days > 30)


def test_a_supplier_with_no_data_is_unknown_and_never_safe(api: TestClient, keys: Keyring) -> None:
    # before anything is known about any supplier (the world's history starts in 2021); one
    # that sells nothing needing a safety mark, so no gate decides first
    esg, before = _esg(api), date(2000, 1, 1)
    supplier_id = next(
        sid for sid in esg.history.supplier_ids if not knockouts_for(esg.history, sid, before)
    )
    response = api.get(f"{supplier_url(supplier_id)}?as_of=2000-01-01", headers=analyst(keys))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["band"] == "unknown"
    assert body["score"] is None
    assert body["manual_review"] is True
    assert body["action"] == "manual_review"
    assert body["knocked_out"] is False
    assert body["reasons"][0]["feature"] == "has_any_history"
    assert (
        "unknown" in body["reasons"][0]["sentence_en"]
        or "nothing is known" in (body["reasons"][0]["sentence_en"])
    )


def test_unknown_supplier_is_404(api: TestClient, keys: Keyring) -> None:
    response = api.get(supplier_url("SUP-NOBODY"), headers=analyst(keys))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_bad_supplier_requests_are_clear_422(api: TestClient, keys: Keyring) -> None:
    supplier_id = _esg(api).history.supplier_ids[0]
    response = api.get(f"{supplier_url(supplier_id)}?as_of=yesterday", headers=analyst(keys))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["loc"] == ["query", "as_of"]
    assert api.get(supplier_url("x" * 129), headers=analyst(keys)).status_code == 422


# --------------------------------------------------------------------------------------------
# A tender


def test_ranking_removes_knocked_out_bidders(
    api: TestClient, keys: Keyring, tender_with_a_knockout: tuple[str, set[str]]
) -> None:
    ocid, knocked_out = tender_with_a_knockout
    response = api.post(ranking_url(ocid), json={"esg_weight": 0.3}, headers=manager(keys))
    assert response.status_code == 200, response.text
    body = response.json()
    ranked = [b["supplier_id"] for b in body["ranked"]]
    assert not knocked_out & set(ranked)
    assert {b["supplier_id"] for b in body["excluded"]} == knocked_out
    assert all(b["knockouts"] and b["knockouts"][0]["evidence"] for b in body["excluded"])
    with store_of(api) as store:
        categories = set(tender_bids(store, ocid).categories)
    for bidder in body["excluded"]:
        for gate in bidder["knockouts"]:
            # supplier-wide, or a restriction in a category this tender buys
            assert gate["category"] is None or gate["category"] in categories
    assert body["freshness"]["data_through"] == _data_through(api).isoformat()
    assert body["freshness"]["stale"] is False  # screened as of the bid deadline
    assert [b["rank"] for b in body["ranked"]] == list(range(1, len(ranked) + 1))
    scored = [b for b in body["ranked"] if not b["manual_review"]]
    assert [b["blended"] for b in scored] == sorted(b["blended"] for b in scored)
    for bidder in scored:
        expected = 0.7 * bidder["price_premium"] + 0.3 * bidder["esg_score"] / 100
        assert bidder["blended"] == pytest.approx(expected)
        assert all((bidder["explanation_en"], bidder["explanation_zh"]))
    # unknown bands come after every scored bidder
    flags = [b["manual_review"] for b in body["ranked"]]
    assert flags == sorted(flags)
    assert body["blend"].startswith("blended = (1 − w)")


def test_no_knocked_out_supplier_at_any_weight(
    api: TestClient, keys: Keyring, tender_with_a_knockout: tuple[str, set[str]]
) -> None:
    ocid, knocked_out = tender_with_a_knockout
    for weight in (0.0, 0.5, 1.0):
        body = api.post(ranking_url(ocid), json={"esg_weight": weight}, headers=analyst(keys))
        assert body.status_code == 200
        assert not knocked_out & {b["supplier_id"] for b in body.json()["ranked"]}


def test_default_weight_and_empty_body(
    api: TestClient, keys: Keyring, tender_with_a_knockout: tuple[str, set[str]]
) -> None:
    ocid, _ = tender_with_a_knockout
    response = api.post(ranking_url(ocid), headers=analyst(keys))
    assert response.status_code == 200, response.text
    assert response.json()["esg_weight"] == 0.3


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"esg_weight": 1.5}, ["body", "esg_weight"]),
        ({"esg_weight": -0.1}, ["body", "esg_weight"]),
        ({"esg_weight": "heavy"}, ["body", "esg_weight"]),
        ({"as_of": "soon"}, ["body", "as_of"]),
    ],
    ids=["above-one", "negative", "text", "bad-date"],
)
def test_bad_ranking_requests_are_clear_422(
    api: TestClient,
    keys: Keyring,
    tender_with_a_knockout: tuple[str, set[str]],
    body: dict[str, Any],
    loc: list[str],
) -> None:
    ocid, _ = tender_with_a_knockout
    response = api.post(ranking_url(ocid), json=body, headers=analyst(keys))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["loc"] == loc


def test_unknown_tender_is_404(api: TestClient, keys: Keyring) -> None:
    response = api.post(ranking_url("ocds-nowhere-1"), json={}, headers=analyst(keys))
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "no such tender"


def test_tender_without_bids_is_a_clear_422(api: TestClient, keys: Keyring) -> None:
    with store_of(api) as store:
        store.insert_new(
            "processes",
            pd.DataFrame([{"ocid": "ocds-esg-test-nobids", "title": "无投标的采购"}]),
        )
    response = api.post(ranking_url("ocds-esg-test-nobids"), json={}, headers=analyst(keys))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"] == [
        {
            "loc": ["path", "ocid"],
            "msg": "tender ocds-esg-test-nobids has no valid priced bid to rank",
            "type": "no_bids",
        }
    ]


# --------------------------------------------------------------------------------------------
# The report


def test_report_figures(api: TestClient, keys: Keyring) -> None:
    response = api.get(f"{REPORT}?from=2025-01-01&to=2025-12-31", headers=analyst(keys))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["in_scope"] == len(_esg(api).history.supplier_ids) or body["in_scope"] > 0
    assert body["screened"] + body["pending_manual_review"] == body["in_scope"]
    assert body["flagged"] >= body["knocked_out"]
    assert body["dropped"] >= body["knocked_out"]
    assert body["corrective_plans"] <= body["flagged"]
    assert sum(body["bands"].values()) == body["in_scope"]
    assert body["active_in_period"] > 0
    assert body["corrective_actions_closed"] > 0
    assert body["new_screened_environmental"] == body["new_screened_social"]
    assert body["freshness"]["stale"] is False
    assert body["freshness"]["days_after_data"] == (date(2025, 12, 31) - _data_through(api)).days


def test_openapi_names_the_response_models(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    for path, method, schema in (
        ("/v1/suppliers/{supplier_id}/esg", "get", "SupplierEsgOut"),
        ("/v1/tenders/{ocid}/esg-ranking", "post", "TenderRankingOut"),
        ("/v1/esg/report", "get", "GriReportOut"),
    ):
        content = paths[path][method]["responses"]["200"]["content"]["application/json"]
        assert content["schema"]["$ref"].endswith(f"/{schema}")


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("from=2025-12-31&to=2025-01-01", ["query", "from"]),
        ("from=2025-01-01", ["query", "to"]),
        ("from=2025-13-01&to=2025-12-31", ["query", "from"]),
        ("from=2000-01-01&to=2025-12-31", ["query", "to"]),
    ],
    ids=["reversed", "missing-to", "bad-month", "too-long"],
)
def test_bad_report_requests_are_clear_422(
    api: TestClient, keys: Keyring, query: str, loc: list[str]
) -> None:
    response = api.get(f"{REPORT}?{query}", headers=manager(keys))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["loc"] == loc


# --------------------------------------------------------------------------------------------
# Roles and the audit log


@pytest.mark.parametrize("role", ["member", "auditor", "party_officer", "admin"])
def test_other_roles_cannot_read(api: TestClient, keys: Keyring, role: str) -> None:
    headers = bearer(keys, "E1001", role)
    supplier_id = _esg(api).history.supplier_ids[0]
    assert api.get(supplier_url(supplier_id), headers=headers).status_code == 403
    assert api.post(ranking_url("ocds-x"), json={}, headers=headers).status_code == 403
    assert api.get(f"{REPORT}?from=2025-01-01&to=2025-01-31", headers=headers).status_code == 403


def test_credentials_are_required(api: TestClient) -> None:
    response = api.get(supplier_url("SUP-00001"))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert api.post(ranking_url("ocds-x"), json={}).status_code == 401
    assert api.get(f"{REPORT}?from=2025-01-01&to=2025-01-31").status_code == 401


def test_every_read_is_in_the_audit_log(
    api: TestClient, keys: Keyring, tender_with_a_knockout: tuple[str, set[str]]
) -> None:
    ocid, _ = tender_with_a_knockout
    supplier_id = _esg(api).history.supplier_ids[0]
    api.get(supplier_url(supplier_id), headers=analyst(keys) | {"X-Request-ID": "esg-supplier"})
    api.post(ranking_url(ocid), json={}, headers=manager(keys) | {"X-Request-ID": "esg-rank"})
    api.get(
        f"{REPORT}?from=2025-01-01&to=2025-03-31",
        headers=analyst(keys) | {"X-Request-ID": "esg-report"},
    )
    api.get(
        supplier_url(supplier_id),
        headers=bearer(keys, "E1001", "member") | {"X-Request-ID": "esg-denied"},
    )
    with audited_store(api) as store:
        entries = store.query(
            "SELECT request_id, action, resource, status_code, role FROM audit_log "
            "WHERE request_id LIKE 'esg-%' ORDER BY seq"
        ).to_dict("records")
    assert [(e["request_id"], e["action"], e["resource"], e["status_code"]) for e in entries] == [
        ("esg-supplier", "GET", supplier_url(supplier_id), 200),
        ("esg-rank", "POST", ranking_url(ocid), 200),
        ("esg-report", "GET", REPORT, 200),
        ("esg-denied", "GET", supplier_url(supplier_id), 403),
    ]
    assert [e["role"] for e in entries] == [
        "esg_analyst",
        "procurement_manager",
        "esg_analyst",
        "member",
    ]


# --------------------------------------------------------------------------------------------
# Without a champion


def test_without_a_champion_the_routes_say_so(
    service_settings: ServiceSettings, service_keyring: Keyring, tmp_path: Path
) -> None:
    settings = service_settings.model_copy(
        update={"mlflow_tracking_uri": f"sqlite:///{tmp_path / 'none.db'}"}
    )
    with TestClient(create_app(settings)) as client:
        models = {m["name"]: m for m in client.get("/readyz").json()["models"]}
        assert models["supplier-esg"]["loaded"] is False
        assert "supplier-esg@champion" in models["supplier-esg"]["reason"]
        headers = bearer(service_keyring, "esg.li", "esg_analyst")
        response = client.get(supplier_url("SUP-00001"), headers=headers)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "model_unavailable"
        assert client.post(ranking_url("x"), json={}, headers=headers).status_code == 503
        assert client.get(supplier_url("SUP-00001")).status_code == 401
    assert not (tmp_path / "none.db").exists()
