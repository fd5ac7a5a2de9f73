from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.settings import Keyring
from serving.app import create_app
from serving.settings import ServiceSettings
from tests.serving.conftest import bearer, make_settings


def test_healthz_needs_no_credential(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_the_store_answering(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["tables"] >= 20
    assert "members" not in response.text  # counts of tables, not their names or rows


def test_metrics_count_requests_by_route_template(
    client: TestClient, service_keyring: Keyring
) -> None:
    client.get("/healthz")
    client.get("/v1/members/E1001", headers=bearer(service_keyring, "E1001", "member"))
    client.get("/no/such/route")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'lodestar_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'route="/v1/members/{employee_no}",status="200"' in text
    assert 'route="unmatched",status="404"' in text
    assert "lodestar_http_request_duration_seconds_bucket" in text
    assert "E1001" not in text


def test_two_apps_in_one_process_keep_separate_metrics(
    service_settings: ServiceSettings,
) -> None:
    first, second = create_app(service_settings), create_app(service_settings)
    assert first.state.metrics.registry is not second.state.metrics.registry


def test_unopenable_store_is_not_ready_but_alive(tmp_path: Path) -> None:
    from core.settings import init_key_file

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    settings = make_settings(tmp_path, store_path=blocker / "lodestar.duckdb")
    init_key_file(settings.key_file)
    with TestClient(create_app(settings)) as test_client:
        assert test_client.get("/healthz").status_code == 200
        ready = test_client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["error"]["code"] == "not_ready"
        assert "store unavailable" in ready.json()["error"]["message"]
        assert str(tmp_path) not in ready.text
        # A valid token, but revocations cannot be read (nor the audit log written): no data
        # leaves.
        whoami = test_client.get("/v1/whoami", headers=bearer(settings.keyring(), "a1", "admin"))
        assert whoami.status_code == 503
        assert whoami.json()["error"]["message"] == "credentials cannot be checked now"


def test_missing_keys_are_not_ready(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)  # no key file written
    with TestClient(create_app(settings)) as test_client:
        assert test_client.get("/healthz").status_code == 200
        ready = test_client.get("/readyz")
        assert ready.status_code == 503
        assert "keys unavailable" in ready.json()["error"]["message"]
        assert test_client.get("/v1/whoami").status_code == 503


def test_openapi_is_public_and_lists_versioned_routes(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/v1/whoami", "/v1/members/{employee_no}", "/v1/audit-log"} <= set(schema["paths"])
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_api_docs_load_nothing_from_the_internet(client: TestClient, page: str) -> None:
    """Sites have no internet: every script and style the page loads is served here."""
    html = client.get(page)
    assert html.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', html.text)
    assert any(asset.endswith(".js") for asset in assets)
    for asset in assets:
        assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
        assert client.get(asset).status_code == 200, asset
