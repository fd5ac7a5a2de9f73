"""The registered ``collusion`` model in the service: a risk model trained with its champion
saves the version, the service loads that version with it, ``/readyz`` and ``/metrics`` show
it, and every planted ring of three bids or more gets the score the training features gave it
(no training/serving skew); fewer bids, no score."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from features.procurement.collusion.point_in_time import COLLUSION_SCORE
from models.collusion.pyfunc import RISK_METADATA_KEY, load_detector
from serving.app import create_app
from serving.jobs.procurement import ProcurementRisk
from serving.settings import ServiceSettings
from store.database import Store
from tests.serving.installations import own_installation
from tests.serving.test_procurement_api import SMALL_OPTIONS, auditor
from training.collusion.markets import load_market
from training.collusion.registry import train_and_register
from training.procurement_risk import train
from training.procurement_risk.data import build_feature_frame
from world.layout import TRUTH_PROCESS_SCHEMES

COLLUSION = "procurement/collusion"
BRAZIL = f"{COLLUSION}/DB_Collusion_Brazil_processed.csv"
SWISS = f"{COLLUSION}/DB_Collusion_Switzerland_GR_and_See-Gaster_processed.csv"
RISK = "/v1/procurement/risk"


@pytest.fixture(scope="module")
def trained(
    small_installation: dict[str, str],
    shared_data: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[ServiceSettings, pd.Series]:
    """The small installation with a ``collusion`` champion (the logistic, fitted on a Swiss
    sample and the Brazilian file) and a risk model trained with it; and the training
    features' ``collusion_score`` by ocid with that version (read before the app holds the
    store)."""
    root = tmp_path_factory.mktemp("collusion-serving")
    settings = own_installation(small_installation, root)
    uri = settings.resolved_mlflow_tracking_uri
    bids = pd.read_csv(shared_data / SWISS)
    kept = bids[bids["Tender"].isin(bids["Tender"].drop_duplicates().head(400))]
    swiss = root / "DB_Collusion_SwissSample_processed.csv"
    kept.to_csv(swiss, index=False)
    markets = [load_market(swiss), load_market(shared_data / BRAZIL)]
    registered = train_and_register(
        settings, markets, candidates=("consistent_logistic",), tracking_uri=uri
    )
    assert registered.gate.promoted
    risk = train(settings, SMALL_OPTIONS, tracking_uri=uri, quiet=True)
    assert risk.gate.promoted
    detector = load_detector(uri, registered.model_version)
    with Store.open(settings, settings.keyring(), read_only=True) as store:
        frame = build_feature_frame(store, settings, collusion=detector)
    return settings, frame.set_index("ocid")[COLLUSION_SCORE]


@pytest.fixture(scope="module")
def installation(trained: tuple[ServiceSettings, pd.Series]) -> ServiceSettings:
    return trained[0]


@pytest.fixture(scope="module")
def api(installation: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(create_app(installation)) as client:
        yield client


def test_the_service_loads_the_version_the_risk_model_was_trained_with(
    api: TestClient,
) -> None:
    risk: ProcurementRisk = api.app.state.procurement.risk  # type: ignore[attr-defined]
    assert risk.model.metadata[RISK_METADATA_KEY] == {"name": "collusion", "version": "1"}
    assert risk.collusion_version == "1"
    assert risk.collusion is not None
    assert risk.collusion.kind == "consistent_logistic"
    models = {m["name"]: m for m in api.get("/readyz").json()["models"]}
    assert models["collusion"]["loaded"] is True
    assert models["collusion"]["version"] == "1"
    metrics = api.get("/metrics").text
    assert 'model="collusion",version="1"' in metrics


def test_planted_rings_score_as_in_training(
    trained: tuple[ServiceSettings, pd.Series], api: TestClient
) -> None:
    """The answer's ``collusion_score`` for every planted ring of three bids or more equals
    the training feature of the same process, computed with the same collusion version."""
    installation, expected = trained
    truth = installation.resolved_truth_dir / TRUTH_PROCESS_SCHEMES
    with truth.open(encoding="utf-8") as handle:
        rigged = {row["ocid"] for row in csv.DictReader(handle) if row["scheme"] == "bid_rigging"}
    path = installation.resolved_world_dir / "procurement" / "releases.jsonl"
    with path.open(encoding="utf-8") as lines:
        releases = [json.loads(line) for line in lines if line.strip()]

    def priced_bids(release: dict[str, Any]) -> int:
        details = release.get("bids", {}).get("details", [])
        return sum(1 for d in details if (d.get("value") or {}).get("amount", 0) > 0)

    def competitive(release: dict[str, Any]) -> bool:
        method = release.get("tender", {}).get("procurementMethod")
        return bool(release.get("awards")) and method != "direct"

    rings = [r for r in releases if r["ocid"] in rigged and competitive(r) and priced_bids(r) >= 3]
    few = [r for r in releases if competitive(r) and priced_bids(r) == 2][:1]
    assert rings
    sent = rings[-8:] + few
    keys = installation.keyring()
    answer = api.post(f"{RISK}/batch", json={"releases": sent}, headers=auditor(keys)).json()
    results = {item["result"]["ocid"]: item["result"] for item in answer["items"]}
    for release in rings[-8:]:
        served = results[release["ocid"]]["collusion_score"]
        assert served is not None
        assert served == pytest.approx(float(expected.loc[release["ocid"]]), abs=1e-12)
    if few:
        assert results[few[0]["ocid"]]["collusion_score"] is None
