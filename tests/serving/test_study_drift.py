"""Drift of the two study models over real components: both trained and registered by the
training code on the small world (their drift references saved with them), the app built on
them, members' mastery and suggestions read through the API at the moments the references
were binned at, then with a shifted input (a moment a year later for mastery, a five-minute
window for suggestions); and an older mastery version registered without a reference."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import mlflow
import pytest
from fastapi.testclient import TestClient

from core.security import PersonalData
from core.settings import Keyring
from models.drift import DRIFT_REFERENCE, DriftReference
from models.learning.mastery import MODEL_FEATURES
from models.learning.pyfunc import ARTIFACT_KEY, MasteryPyfunc
from models.learning.recommender import FEATURES
from serving.app import create_app
from serving.jobs.learning import load_mastery
from serving.jobs.learning_answers import DRIFT_CANDIDATES
from serving.jobs.learning_study import MASTERY_MODEL, RECOMMENDER_MODEL, Study
from serving.settings import ServiceSettings
from tests.champions import RECOMMENDER_OPTIONS, copy_installation
from tests.serving.conftest import bearer
from tests.serving.installations import copy_store, store_of
from tests.serving.test_drift import DRIFT, _gauge
from training.mastery import PIP_PACKAGES
from training.tracking import register_challenger, start_tracking

EVALUATION_CUT = datetime(2025, 12, 1)
WARNING_PSI = 0.2


@pytest.fixture(scope="module")
def installation(
    trained_installation: ServiceSettings, tmp_path_factory: pytest.TempPathFactory
) -> ServiceSettings:
    """A copy of the session's trained installation (both study champions, the recommender
    trained with the cut ``EVALUATION_CUT``)."""
    assert RECOMMENDER_OPTIONS.cut == EVALUATION_CUT
    return copy_installation(trained_installation, tmp_path_factory.mktemp("study-drift"))


def _drift_settings(settings: ServiceSettings) -> ServiceSettings:
    return settings.model_copy(
        update={"drift_window": 10_000, "drift_min_rows": 50, "drift_refresh_seconds": 0.0}
    )


@pytest.fixture(scope="module")
def api(installation: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(create_app(_drift_settings(installation))) as client:
        yield client


@pytest.fixture(scope="module")
def keys(installation: ServiceSettings) -> Keyring:
    return installation.keyring()


def admin(keys: Keyring) -> dict[str, str]:
    return bearer(keys, "ops.li", "admin")


def _study(client: TestClient) -> Study:
    study: Study = client.app.state.learning.study  # type: ignore[attr-defined]
    return study


@pytest.fixture(scope="module")
def employee_numbers(api: TestClient, keys: Keyring) -> list[str]:
    """Every member who answered before the time cut (the learners the mastery reference
    bins): a member's rows share their member-level features (one value on each of their 60
    knowledge points), so a sample of members would make PSI noise of its own. Members with
    no answer are left out: scored alone, their decayed counts are NaN where the batched
    reference has 0 (``kt_features.response_features``), a skew the monitor does show."""
    personal = PersonalData(keys)
    with store_of(api) as store:
        rows = store.query(
            "SELECT employee_no_enc FROM members WHERE member_key IN (SELECT member_key "
            "FROM statements WHERE verb = 'answered' AND timestamp < ?) ORDER BY member_key",
            [_time_cut(api)],
        )
    numbers = [
        str(personal.cipher.decrypt(value, column="employee_no_enc"))
        for value in rows["employee_no_enc"]
    ]
    return numbers


def _report(client: TestClient, keys: Keyring, model: str) -> dict[str, Any]:
    report = client.get(DRIFT, params={"top": 100}, headers=admin(keys))
    assert report.status_code == 200, report.text
    [entry] = [m for m in report.json()["models"] if m["model"] == model]
    return entry


def _read_all(
    client: TestClient, keys: Keyring, numbers: list[str], *, as_of: datetime, minutes: int | None
) -> None:
    for number in numbers:
        mastery = client.get(
            f"/v1/members/{number}/mastery",
            params={"as_of": as_of.isoformat()},
            headers=admin(keys),
        )
        assert mastery.status_code == 200, mastery.text
        query: dict[str, Any] = {"as_of": EVALUATION_CUT.isoformat()}
        if minutes is not None:
            query["minutes"] = minutes
        suggestions = client.get(
            f"/v1/members/{number}/recommendations", params=query, headers=admin(keys)
        )
        assert suggestions.status_code == 200, suggestions.text


def _time_cut(client: TestClient) -> datetime:
    return datetime.fromisoformat(str(_study(client).mastery.metadata_["time_cut"]))


@pytest.fixture(scope="module")
def unshifted(
    api: TestClient, keys: Keyring, employee_numbers: list[str]
) -> dict[str, dict[str, Any]]:
    """The report of both models after reading members at the references' moments."""
    _read_all(api, keys, employee_numbers, as_of=_time_cut(api), minutes=None)
    return {name: _report(api, keys, name) for name in (MASTERY_MODEL, RECOMMENDER_MODEL)}


@pytest.fixture(scope="module")
def shifted(
    api: TestClient, keys: Keyring, employee_numbers: list[str], unshifted: Any
) -> dict[str, dict[str, Any]]:
    """After the same members read a year after the time cut, with a five-minute window,
    until the shifted rows fill most of each window."""
    later = _time_cut(api) + timedelta(days=365)
    for _ in range(2):
        _read_all(api, keys, employee_numbers, as_of=later, minutes=5)
    return {name: _report(api, keys, name) for name in (MASTERY_MODEL, RECOMMENDER_MODEL)}


# --------------------------------------------------------------------------------------------
# The references saved at training


def test_both_study_champions_carry_their_reference(api: TestClient) -> None:
    study = _study(api)
    mastery = DriftReference.of_model(study.mastery.metadata_)
    recommender = DriftReference.of_model(study.recommender.metadata_)
    assert mastery is not None
    assert recommender is not None
    assert mastery.feature_names == list(MODEL_FEATURES)
    assert recommender.feature_names == list(FEATURES)
    assert mastery.rows > 0
    assert recommender.rows > 0
    assert mastery.data_version == study.mastery.metadata_["data_version"]
    assert "time cut" in str(mastery.part)
    assert "evaluation cut" in str(recommender.part)


# --------------------------------------------------------------------------------------------
# Live rows, PSI and the warning


def test_reads_fill_both_windows_without_a_warning(
    api: TestClient, employee_numbers: list[str], unshifted: dict[str, dict[str, Any]]
) -> None:
    kps = len(_study(api).data.knowledge_points)
    mastery, recommender = unshifted[MASTERY_MODEL], unshifted[RECOMMENDER_MODEL]
    members = len(employee_numbers)
    assert mastery["window_rows"] == members * kps  # one probe per member and KP
    assert 0 < recommender["window_rows"] <= members * DRIFT_CANDIDATES  # bounded per request
    for entry in (mastery, recommender):
        assert entry["reason"] is None
        assert entry["score_psi"] is not None
        assert entry["score_psi"] < WARNING_PSI, entry
        assert not entry["warning"], entry["top_features"][:3]
        assert _gauge(api, "lodestar_drift_warning", model=entry["model"]) == 0.0


def test_shifted_inputs_raise_the_warning(
    api: TestClient, keys: Keyring, shifted: dict[str, dict[str, Any]]
) -> None:
    mastery, recommender = shifted[MASTERY_MODEL], shifted[RECOMMENDER_MODEL]
    mastery_top = {f["feature"]: f["psi"] for f in mastery["top_features"]}
    assert mastery_top["days_since_member_event"] > WARNING_PSI
    recommender_top = {f["feature"]: f["psi"] for f in recommender["top_features"]}
    assert recommender_top["minutes_over_window"] > WARNING_PSI
    for entry in (mastery, recommender):
        assert entry["warning"], entry
        assert _gauge(api, "lodestar_drift_warning", model=entry["model"]) == 1.0
        psi = _gauge(api, "lodestar_drift_psi", model=entry["model"], feature="score")
        assert psi == pytest.approx(entry["score_psi"])


# --------------------------------------------------------------------------------------------
# A version saved without a reference


def test_a_mastery_version_without_reference_serves_and_says_so(
    installation: ServiceSettings,
    keys: Keyring,
    employee_numbers: list[str],
    shifted: Any,
    tmp_path: Path,
) -> None:
    uri = installation.resolved_mlflow_tracking_uri
    model, _ = load_mastery(uri)
    del model.metadata_[DRIFT_REFERENCE]  # as versions registered before references were saved
    _, client = start_tracking(installation, uri)
    with mlflow.start_run():
        version = register_challenger(
            client,
            MASTERY_MODEL,
            model,
            MasteryPyfunc(),
            artifact_key=ARTIFACT_KEY,
            packages=PIP_PACKAGES,
        )
    client.set_registered_model_alias(MASTERY_MODEL, "champion", version)
    copy_store(
        installation.resolved_store_path, tmp_path / "lodestar.duckdb"
    )  # the first app holds it
    settings = installation.model_copy(update={"store_path": tmp_path / "lodestar.duckdb"})
    with TestClient(create_app(_drift_settings(settings))) as older:
        assert _study(older).mastery_version == version
        number = employee_numbers[0]
        response = older.get(f"/v1/members/{number}/mastery", headers=admin(keys))
        assert response.status_code == 200, response.text
        entry = _report(older, keys, MASTERY_MODEL)
        assert entry["version"] == version
        assert "without a drift reference" in entry["reason"]
        assert entry["score_psi"] is None
        assert not entry["warning"]
