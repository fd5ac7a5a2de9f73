"""A champion that moves while the service runs: the watcher swaps it in while requests flow
(none fails, the answers carry the new version afterwards), ``/readyz`` and ``/metrics``
show the version and when it was loaded, a version that cannot load leaves the old model
answering, and the risk model's features use the feature settings saved with it.

Real pieces: the small installation, a risk model trained by the training code into a real
MLflow SQLite registry, the app's own lifespan and watcher thread."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from core.settings import Keyring
from features.procurement.build import process_features
from features.procurement.feature_settings import FEATURE_SETTINGS_KEY
from features.procurement.history import HistoryRules, ProcurementHistory
from serving.app import create_app
from serving.jobs.procurement import ProcurementRisk
from serving.settings import ServiceSettings
from tests.serving.conftest import bearer
from tests.serving.installations import copy_store, own_installation
from tests.serving.test_procurement_api import SMALL_OPTIONS
from training.procurement_risk import train

MODEL = "procurement-risk"
RISK = "/v1/procurement/risk"
POLL_SECONDS = 0.2
SWAP_SECONDS = 30.0


@pytest.fixture(scope="module")
def installation(
    small_installation: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> ServiceSettings:
    """The small installation with its own store and registry, the risk champion (v1)
    trained on it, and a watcher that polls every ``POLL_SECONDS``."""
    settings = own_installation(small_installation, tmp_path_factory.mktemp("hot-swap"))
    uri = settings.resolved_mlflow_tracking_uri
    assert train(settings, SMALL_OPTIONS, tracking_uri=uri, quiet=True).gate.promoted
    return settings.model_copy(
        update={"registry_poll_seconds": POLL_SECONDS, "retrain_interval_hours": 0.0}
    )


@pytest.fixture(scope="module")
def keys(installation: ServiceSettings) -> Keyring:
    return installation.keyring()


@pytest.fixture(scope="module")
def release(installation: ServiceSettings) -> dict[str, Any]:
    path = installation.resolved_world_dir / "procurement" / "releases.jsonl"
    with path.open(encoding="utf-8") as lines:
        releases = [json.loads(line) for line in lines if line.strip()]
    return next(r for r in releases if r.get("awards") and r.get("tender", {}).get("tenderPeriod"))


def features_of(history: ProcurementHistory, release: dict[str, Any]) -> pd.Series:
    """The service's features of ``release`` against ``history`` (NaN equal to NaN)."""
    return pd.Series(process_features(history, release), dtype=object)


def registry(settings: ServiceSettings) -> Any:
    uri = settings.resolved_mlflow_tracking_uri
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def new_version(settings: ServiceSettings, source: str | None = None) -> str:
    """A new registered version of the risk model: the champion's artefacts again (or
    ``source``), made champion; returns its version."""
    client = registry(settings)
    champion = client.get_model_version_by_alias(MODEL, "champion")
    created = client.create_model_version(MODEL, source or champion.source, run_id=champion.run_id)
    client.set_registered_model_alias(MODEL, "champion", created.version)
    return str(created.version)


def _model(client: TestClient, name: str = MODEL) -> dict[str, Any]:
    [model] = [m for m in client.get("/readyz").json()["models"] if m["name"] == name]
    return model


def wait_for_version(client: TestClient, version: str) -> dict[str, Any]:
    deadline = time.monotonic() + SWAP_SECONDS
    while time.monotonic() < deadline:
        model = _model(client)
        if model["version"] == version:
            return model
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"version {version} not swapped in: {_model(client)}")


def wait_for_error(client: TestClient) -> dict[str, Any]:
    deadline = time.monotonic() + SWAP_SECONDS
    while time.monotonic() < deadline:
        model = _model(client)
        if model["load_error"]:
            return model
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"no load error shown: {_model(client)}")


@pytest.fixture(scope="module")
def api(installation: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(create_app(installation)) as client:
        yield client


class Traffic:
    """A thread scoring one release as fast as it answers, recording every status and
    model version, until stopped."""

    def __init__(self, client: TestClient, headers: dict[str, str], release: Any) -> None:
        self.answers: list[tuple[int, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(client, headers, release))

    def _run(self, client: TestClient, headers: dict[str, str], release: Any) -> None:
        while not self._stop.is_set():
            response = client.post(RISK, json=release, headers=headers)
            version = (
                response.json().get("model", {}).get("version") if response.is_success else None
            )
            self.answers.append((response.status_code, version))

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)


def test_a_moved_champion_is_swapped_in_while_requests_flow(
    api: TestClient, installation: ServiceSettings, keys: Keyring, release: dict[str, Any]
) -> None:
    before = _model(api)
    assert before["version"] == "1"
    assert before["load_error"] is None
    loaded_at_before = datetime.fromisoformat(before["loaded_at"])
    assert loaded_at_before.utcoffset() == timedelta(0)
    auditor = bearer(keys, "audit.zhao", "auditor", ttl=timedelta(minutes=10))
    with Traffic(api, auditor, release) as traffic:
        time.sleep(1.0)
        version = new_version(installation)
        after = wait_for_version(api, version)
        time.sleep(1.0)
    statuses = [status for status, _ in traffic.answers]
    versions = [answered for _, answered in traffic.answers]
    assert len(statuses) > 10
    assert set(statuses) == {200}, "a request failed during the swap"
    assert versions[0] == "1"
    assert versions[-1] == version
    switched = versions.index(version)
    assert set(versions[switched:]) == {version}, "an old answer after the new one"
    assert datetime.fromisoformat(after["loaded_at"]) > loaded_at_before
    metrics = api.get("/metrics").text
    assert f'lodestar_model_loaded_info{{model="{MODEL}",version="{version}"}} 1.0' in metrics
    assert f'lodestar_model_loaded_info{{model="{MODEL}",version="1"}}' not in metrics
    timestamp_line = next(
        line
        for line in metrics.splitlines()
        if line.startswith(f'lodestar_model_loaded_timestamp_seconds{{model="{MODEL}"}}')
    )
    assert float(timestamp_line.split()[-1]) == pytest.approx(
        datetime.fromisoformat(after["loaded_at"]).timestamp()
    )


def test_a_champion_that_cannot_load_leaves_the_old_one_answering(
    api: TestClient, installation: ServiceSettings, keys: Keyring, release: dict[str, Any]
) -> None:
    answering = _model(api)["version"]
    broken = new_version(installation, source=str(installation.data_dir / "no-such-model"))
    model = wait_for_error(api)
    assert model["version"] == answering
    assert model["loaded"] is True
    assert f"version {broken} could not be loaded" in model["load_error"]
    response = api.post(RISK, json=release, headers=bearer(keys, "audit.zhao", "auditor"))
    assert response.status_code == 200
    assert response.json()["model"]["version"] == answering
    assert 'lodestar_model_load_failures_total{model="procurement-risk"} 1.0' in (
        api.get("/metrics").text
    )
    # the alias moves on to a good version: it is swapped in and the error goes
    good = new_version(
        installation, source=registry(installation).get_model_version(MODEL, answering).source
    )
    recovered = wait_for_version(api, good)
    assert recovered["load_error"] is None


def test_the_risk_model_computes_its_features_with_its_own_settings(
    api: TestClient,
    installation: ServiceSettings,
    small_installation: dict[str, str],
    release: dict[str, Any],
    tmp_path: Path,
) -> None:
    """A deployment whose thresholds differ from the model's: the service's features are
    those of the model's saved settings (not the deployment's), and readiness warns."""
    copy_store(
        Path(small_installation["LODESTAR_DATA_DIR"]) / "lodestar.duckdb",
        tmp_path / "lodestar.duckdb",
    )
    changed = installation.model_copy(
        update={
            "store_path": tmp_path / "lodestar.duckdb",
            "legal_tender_threshold_cny": 0.0,
            "minimum_tender_days": 10_000,
            "approval_thresholds_cny": (1.0,),
            "registry_poll_seconds": 0.0,
        }
    )
    with TestClient(create_app(changed)) as other:
        plain_risk: ProcurementRisk = api.app.state.procurement.risk  # type: ignore[attr-defined]
        other_risk: ProcurementRisk = other.app.state.procurement.risk  # type: ignore[attr-defined]
        saved = other_risk.model.metadata[FEATURE_SETTINGS_KEY]
        assert saved["minimum_tender_days"] == installation.minimum_tender_days
        served = features_of(other_risk.history, release)
        assert served.equals(features_of(plain_risk.history, release))
        # the deployment's settings would have given other features: the test can fail
        skewed_risk = dataclasses.replace(other_risk, rules=HistoryRules.from_settings(changed))
        assert not served.equals(features_of(skewed_risk.history, release))
        warning = _model(other)["feature_settings_warning"]
        assert "minimum_tender_days: model 20, deployment 10000" in warning
        assert _model(api)["feature_settings_warning"] is None
