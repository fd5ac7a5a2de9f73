"""Behaviour of the procurement risk model trained on the small world: direction (a higher
price, as a feature or in a release, never lowers the risk) and invariance (a supplier's name
changes neither the features nor the risk)."""

from __future__ import annotations

import copy
import json
import math

import mlflow
import pandas as pd
import pytest

from core.security import PersonalData
from core.settings import Settings
from features.procurement.build import features_for_release
from features.procurement.history import ProcurementHistory
from models.procurement.model import RiskModel
from serving.settings import ServiceSettings
from store.database import Store
from tests.training.installations import private_installation
from tests.training.test_procurement_risk import PRICE_FEATURES
from training.procurement_risk import REGISTERED_MODEL, build_feature_frame


@pytest.fixture(scope="module")
def installation(
    small_installation: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return private_installation(small_installation, tmp_path_factory.mktemp("risk-behaviour"))


@pytest.fixture(scope="module")
def feature_frame(installation: Settings) -> pd.DataFrame:
    with Store.open(installation, installation.keyring(), read_only=True) as store:
        return build_feature_frame(store, installation)


@pytest.fixture(scope="module")
def champion(trained_installation: ServiceSettings) -> RiskModel:
    """The session's risk champion (one training run on the small world, ``RISK_OPTIONS``),
    as the registry serves it (loading reads the registry, never writes it)."""
    uri = trained_installation.resolved_mlflow_tracking_uri
    mlflow.set_tracking_uri(uri)
    loaded = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}@champion")
    return loaded.unwrap_python_model().risk_model


def test_raising_the_price_ratio_never_lowers_the_risk(
    champion: RiskModel, feature_frame: pd.DataFrame
) -> None:
    rows = feature_frame.sample(200, random_state=0)
    previous = champion.predict_proba(rows.assign(**dict.fromkeys(PRICE_FEATURES, 0.8)))
    for ratio in (1.0, 1.2, 1.5, 2.0, 3.0, 10.0):
        current = champion.predict_proba(rows.assign(**dict.fromkeys(PRICE_FEATURES, ratio)))
        assert (current >= previous - 1e-12).all()
        previous = current


@pytest.fixture(scope="module")
def history(installation: Settings) -> ProcurementHistory:
    keyring = installation.keyring()
    with Store.open(installation, keyring, read_only=True) as store:
        return ProcurementHistory.from_store(
            store, settings=installation, personal=PersonalData(keyring), keep_records=False
        )


@pytest.fixture(scope="module")
def priced_releases(installation: Settings, history: ProcurementHistory) -> list[dict]:
    """Awarded releases of the later months whose unit price has a category median."""
    path = installation.resolved_world_dir / "procurement" / "releases.jsonl"
    chosen = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            release = json.loads(line)
            if not release.get("awards") or release["date"] < "2025-07":
                continue
            row = features_for_release(history, release)
            if row[PRICE_FEATURES[0]].notna().all():
                chosen.append(release)
            if len(chosen) == 25:
                break
    assert chosen
    return chosen


def _scale_unit_prices(release: dict, factor: float) -> dict:
    changed = copy.deepcopy(release)
    for item in changed["tender"]["items"]:
        if "unit" in item and "value" in item["unit"]:
            item["unit"]["value"]["amount"] *= factor
    return changed


def test_raising_a_release_unit_price_never_lowers_the_risk(
    champion: RiskModel, history: ProcurementHistory, priced_releases: list[dict]
) -> None:
    for release in priced_releases:
        previous_ratio, previous_probability = -math.inf, -math.inf
        for factor in (1.0, 1.3, 2.0, 4.0, 10.0):
            row = features_for_release(history, _scale_unit_prices(release, factor))
            ratio = float(row[PRICE_FEATURES[0]].iloc[0])
            probability = float(champion.predict_proba(row)[0])
            assert ratio > previous_ratio
            assert probability >= previous_probability - 1e-12, release["ocid"]
            previous_ratio, previous_probability = ratio, probability


def _rename(node: object, supplier_id: str, new_name: str) -> None:
    if isinstance(node, dict):
        if node.get("id") == supplier_id and "name" in node:
            node["name"] = new_name
            if isinstance(node.get("identifier"), dict):
                node["identifier"]["legalName"] = new_name
        for value in node.values():
            _rename(value, supplier_id, new_name)
    elif isinstance(node, list):
        for value in node:
            _rename(value, supplier_id, new_name)


def test_renaming_a_supplier_does_not_change_the_risk(
    champion: RiskModel, history: ProcurementHistory, priced_releases: list[dict]
) -> None:
    for release in priced_releases[:10]:
        winner = release["awards"][0]["suppliers"][0]["id"]
        renamed = copy.deepcopy(release)
        _rename(renamed, winner, "改名后的供应商有限公司")
        assert renamed != release
        before = features_for_release(history, release)
        after = features_for_release(history, renamed)
        pd.testing.assert_frame_equal(before, after)
        assert champion.predict_proba(after)[0] == champion.predict_proba(before)[0]
