"""Drift monitoring over real components: a model trained and registered by the training
code on the small world (its drift reference saved with it), the app built on it, releases
scored through the API as they are and with every price tripled, and reviewers' verdicts
posted through the API."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from core.settings import Keyring
from features.procurement.build import features_for_release
from models.drift import DRIFT_REFERENCE, DriftReference, FeatureBins
from serving.app import create_app
from serving.jobs.procurement import ProcurementRisk
from serving.live.drift import DriftMonitor, record_scored
from serving.settings import ServiceSettings
from tests.champions import copy_installation
from tests.serving.conftest import bearer
from tests.serving.test_procurement_api import SMALL_OPTIONS

DRIFT = "/v1/admin/drift"
BATCH = "/v1/procurement/risk/batch"
ALERTS = "/v1/procurement/alerts"
MODEL = "procurement-risk"
BATCH_SIZE = 50


@pytest.fixture(scope="module")
def installation(
    trained_installation: ServiceSettings, tmp_path_factory: pytest.TempPathFactory
) -> ServiceSettings:
    """A copy of the session's trained installation (the risk champion, its warnings in
    ``alerts``)."""
    return copy_installation(trained_installation, tmp_path_factory.mktemp("drift"))


@pytest.fixture(scope="module")
def keys(installation: ServiceSettings) -> Keyring:
    return installation.keyring()


@pytest.fixture(scope="module")
def calibration_releases(installation: ServiceSettings) -> list[dict[str, Any]]:
    """The releases decided in the calibration month, the month the reference is binned
    from: scored as they are, they are the reference's own rows."""
    path = installation.resolved_world_dir / "procurement" / "releases.jsonl"
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _risk(client: TestClient) -> ProcurementRisk:
    risk: ProcurementRisk = client.app.state.procurement.risk  # type: ignore[attr-defined]
    return risk


@pytest.fixture(scope="module")
def june(api: TestClient, calibration_releases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    history = _risk(api).history
    start, end = SMALL_OPTIONS.train_end, SMALL_OPTIONS.calibration_end
    assert start is not None
    assert end is not None
    chosen = []
    for release in calibration_releases:
        decided = features_for_release(history, release)["decision_date"].iloc[0]
        if decided is not None and start <= decided.date() < end:
            chosen.append(release)
    assert len(chosen) >= 40
    return chosen


@pytest.fixture(scope="module")
def api(installation: ServiceSettings) -> Iterator[TestClient]:
    settings = installation.model_copy(
        update={"drift_window": 1000, "drift_min_rows": 30, "drift_refresh_seconds": 0.0}
    )
    with TestClient(create_app(settings)) as client:
        yield client


def admin(keys: Keyring) -> dict[str, str]:
    return bearer(keys, "ops.li", "admin")


def auditor(keys: Keyring) -> dict[str, str]:
    return bearer(keys, "audit.zhao", "auditor")


def _tripled_prices(value: Any) -> Any:
    """A copy with every ``amount`` (tender, bids, awards, contracts) times 3."""
    if isinstance(value, dict):
        return {
            key: item * 3
            if key == "amount" and isinstance(item, int | float)
            else _tripled_prices(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_tripled_prices(item) for item in value]
    return value


def _score_all(client: TestClient, keys: Keyring, releases: list[dict[str, Any]]) -> int:
    scored = 0
    for start in range(0, len(releases), BATCH_SIZE):
        chunk = releases[start : start + BATCH_SIZE]
        response = client.post(BATCH, json={"releases": chunk}, headers=auditor(keys))
        assert response.status_code == 200, response.text
        scored += response.json()["scored"]
    return scored


def _gauge(client: TestClient, name: str, **labels: str) -> float | None:
    text = client.get("/metrics").text
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    return None


def _procurement(report: dict[str, Any]) -> dict[str, Any]:
    [model] = [m for m in report["models"] if m["model"] == MODEL]
    return model


@pytest.fixture(scope="module")
def unshifted(
    api: TestClient, keys: Keyring, june: list[dict[str, Any]]
) -> tuple[dict[str, Any], float | None, float | None]:
    """The drift report and the score's PSI and warning gauges after scoring the
    calibration month as it is."""
    assert _score_all(api, keys, june) == len(june)
    report = api.get(DRIFT, headers=admin(keys)).json()
    return (
        report,
        _gauge(api, "lodestar_drift_psi", model=MODEL, feature="score"),
        _gauge(api, "lodestar_drift_warning", model=MODEL),
    )


@pytest.fixture(scope="module")
def shifted(
    api: TestClient, keys: Keyring, june: list[dict[str, Any]], unshifted: Any
) -> tuple[dict[str, Any], float | None]:
    """After the same month with prices tripled, until they fill the window."""
    tripled = [_tripled_prices(copy.deepcopy(r)) for r in june]
    sent = 0
    while sent < 1000:
        sent += _score_all(api, keys, tripled)
    report = api.get(DRIFT, headers=admin(keys)).json()
    return report, _gauge(api, "lodestar_drift_warning", model=MODEL)


# --------------------------------------------------------------------------------------------
# The reference saved at training


def test_the_champion_carries_its_reference(api: TestClient) -> None:
    model = _risk(api).model
    reference = DriftReference.of_model(model.metadata)
    assert reference is not None
    assert reference.data_version == model.metadata["data_version"]
    assert reference.part == "calibration"
    assert reference.feature_names == model.feature_names
    for name in model.categories:
        assert reference.features[name].kind == "categorical"
    for bins in [reference.score, *reference.features.values()]:
        assert sum(bins.proportions) == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------
# Drift through the API


def test_unshifted_traffic_stays_below_the_warning(
    unshifted: tuple[dict[str, Any], float | None, float | None], june: list[dict[str, Any]]
) -> None:
    report, score_psi, warning = unshifted
    model = _procurement(report)
    assert model["window_rows"] == len(june)
    assert model["reference_data_version"]
    assert model["score_psi"] < 0.2
    assert max(f["psi"] for f in model["top_features"]) < 0.2
    assert model["warning"] is False
    assert score_psi == pytest.approx(model["score_psi"])
    assert warning == 0.0


def test_tripled_prices_raise_the_warning(shifted: tuple[dict[str, Any], float | None]) -> None:
    report, warning = shifted
    model = _procurement(report)
    assert model["window_rows"] == 1000  # bounded: the window keeps the last 1000
    assert model["warning"] is True
    assert warning == 1.0
    top = model["top_features"][0]
    assert top["psi"] > 0.2
    assert any(word in top["feature"] for word in ("value", "amount", "price", "bid"))


def test_only_admin_reads_drift(api: TestClient, keys: Keyring) -> None:
    assert api.get(DRIFT).status_code == 401
    assert api.get(DRIFT, headers=auditor(keys)).status_code == 403
    assert api.get(DRIFT, headers=bearer(keys, "x", "esg_analyst")).status_code == 403
    assert api.get(DRIFT, headers=admin(keys)).status_code == 200


# --------------------------------------------------------------------------------------------
# Realised precision


def test_precision_from_reviews(api: TestClient, keys: Keyring) -> None:
    page = api.get(ALERTS, params={"limit": 4}, headers=auditor(keys)).json()
    alerts = page["alerts"]
    assert len(alerts) == 4
    verdicts = [
        {"verdict": "confirmed", "scheme": "bid_rigging"},
        {"verdict": "confirmed", "scheme": "price_inflation"},
        {"verdict": "dismissed"},
        {"verdict": "needs_information"},
    ]
    for alert, verdict in zip(alerts, verdicts, strict=True):
        url = f"{ALERTS}/{alert['alert_id']}/review"
        assert api.post(url, json=verdict, headers=auditor(keys)).status_code == 200
    version = alerts[0]["model"]["version"]
    rows = api.get(DRIFT, headers=admin(keys)).json()["alert_precision"]
    [overall] = [r for r in rows if r["level"] == "all" and r["version"] == version]
    assert (overall["reviewed"], overall["confirmed"], overall["needs_information"]) == (3, 2, 1)
    assert overall["precision"] == pytest.approx(2 / 3)
    assert overall["alerts"] == page["total"]
    by_level: dict[str, list[int]] = {}
    for alert, verdict in zip(alerts, verdicts, strict=True):
        counts = by_level.setdefault(alert["warning_level"], [0, 0])
        counts[0] += verdict["verdict"] in ("confirmed", "dismissed")
        counts[1] += verdict["verdict"] == "confirmed"
    for level, (reviewed, confirmed) in by_level.items():
        [row] = [r for r in rows if r["level"] == level and r["version"] == version]
        assert (row["reviewed"], row["confirmed"]) == (reviewed, confirmed)
    gauge = _gauge(api, "lodestar_alert_precision", model=MODEL, version=version, level="all")
    assert gauge == pytest.approx(2 / 3)


# --------------------------------------------------------------------------------------------
# The monitor itself


def _reference() -> dict[str, Any]:
    bins = FeatureBins.numeric(np.arange(100.0))
    reference = DriftReference(features={"x": bins}, score=bins, rows=100, data_version="d1")
    return {DRIFT_REFERENCE: reference.to_dict()}


def test_a_new_version_starts_a_new_window() -> None:
    monitor = DriftMonitor(window_size=50, min_rows=1, refresh_seconds=0)
    rows = [{"x": float(v)} for v in range(30)]
    monitor.record("m", "1", _reference(), rows, np.arange(30.0))
    monitor.record("m", "1", _reference(), rows, np.arange(30.0))
    [first] = monitor.drift()
    assert (first.version, first.rows) == ("1", 50)  # bounded by the window
    monitor.record("m", "2", _reference(), rows[:5], np.arange(5.0))
    [second] = monitor.drift()
    assert (second.version, second.rows) == ("2", 5)


def test_a_model_without_reference_says_so() -> None:
    monitor = DriftMonitor(refresh_seconds=0)
    monitor.record("m", "1", {}, [{"x": 1.0}], [0.5])
    [drift] = monitor.drift()
    assert drift.reason is not None
    assert "without a drift reference" in drift.reason
    assert drift.score_psi is None
    assert not drift.warning


def test_recording_without_a_monitor_does_nothing() -> None:
    record_scored("m", "1", _reference(), [{"x": 1.0}], [0.5])  # no monitor installed: no error


def test_the_window_is_the_last_rows_in_order() -> None:
    monitor = DriftMonitor(window_size=4, refresh_seconds=0)
    monitor.record("m", "1", _reference(), [{"x": float(v)} for v in range(6)], np.arange(6.0))
    window = monitor.window("m", "1", _reference())
    assert window is not None
    _, scores = window.contents()
    assert sorted(scores.tolist()) == [2.0, 3.0, 4.0, 5.0]
