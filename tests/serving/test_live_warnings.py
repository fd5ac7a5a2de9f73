"""Warnings as tenders arrive: a service started on a store cut at a date is pushed the
processes after the cut; each new or changed one is scored by the loaded champion and
written to ``alerts`` with its model version; a new champion re-scores the open alerts and
both versions stay. Real store, real MLflow registry, real training code, the real app."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from features.procurement.build import build_process_features, feature_frame, process_features
from features.procurement.history import (
    PROCUREMENT_TABLES,
    ProcurementHistory,
    load_process_frames,
    records_from_frames,
)
from models.procurement.alerts import alert_id
from serving.app import create_app
from serving.jobs.procurement import ProcurementState
from serving.settings import ServiceSettings
from store.database import Store
from tests.serving.installations import own_installation, store_of
from tests.serving.test_procurement_api import SMALL_OPTIONS
from training.procurement_risk import train

WITHHELD_DAYS = 21
# the issue asks for a warning within a second of ingestion; the bound here leaves room for
# a loaded test machine and still fails on anything like a rebuild
PUSH_TO_ALERT_BOUND_SECONDS = 5.0


def _rows(store: Store, table: str, ocids: list[str]) -> pd.DataFrame:
    return store.query(
        f'SELECT * FROM "{table}" WHERE ocid IN (SELECT unnest(?::VARCHAR[]))', [ocids]
    )


@pytest.fixture(scope="module")
def cut_installation(
    small_installation: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[ServiceSettings, dict[str, pd.DataFrame]]:
    """The small installation with the last three weeks' processes taken out of its store (and
    returned, every column), and a champion trained on what is left."""
    settings = own_installation(small_installation, tmp_path_factory.mktemp("live-warnings"))
    with Store.open(settings, settings.keyring()) as store:
        last = store.query("SELECT max(release_date) AS last FROM processes")["last"].iloc[0]
        cut = pd.Timestamp(last) - timedelta(days=WITHHELD_DAYS)
        ocids = list(
            store.query("SELECT ocid FROM processes WHERE release_date >= ?", [cut])["ocid"]
        )
        withheld = {table: _rows(store, table, ocids) for table in PROCUREMENT_TABLES}
        with store.transaction():
            for table in PROCUREMENT_TABLES:
                store.connection.execute(
                    f'DELETE FROM "{table}" WHERE ocid IN (SELECT unnest(?::VARCHAR[]))', [ocids]
                )
        store.checkpoint()
    assert len(ocids) > 10
    trained = train(
        settings, SMALL_OPTIONS, tracking_uri=settings.resolved_mlflow_tracking_uri, quiet=True
    )
    assert trained.gate.promoted
    return settings, withheld


@pytest.fixture(scope="module")
def api(cut_installation: tuple[ServiceSettings, dict[str, pd.DataFrame]]) -> Iterator[TestClient]:
    with TestClient(create_app(cut_installation[0])) as client:
        yield client


def _state(client: TestClient) -> ProcurementState:
    state: ProcurementState = client.app.state.procurement  # type: ignore[attr-defined]
    return state


def _ingest(client: TestClient, rows: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """What the ingest route does: insert, then read back the whole processes touched."""
    with store_of(client) as store:
        with store.transaction():
            for table, frame in rows.items():
                store.insert_new(table, frame)
        return load_process_frames(store, list(rows["processes"]["ocid"]))


def _alerts(client: TestClient) -> pd.DataFrame:
    with store_of(client) as store:
        return store.query("SELECT * FROM alerts")


@pytest.fixture(scope="module")
def pushed(
    api: TestClient, cut_installation: tuple[ServiceSettings, dict[str, pd.DataFrame]]
) -> Any:
    return _state(api).push(_ingest(api, cut_installation[1]))


def test_pushed_processes_are_warned_with_the_model_version(
    api: TestClient, cut_installation: tuple[ServiceSettings, dict[str, pd.DataFrame]], pushed: Any
) -> None:
    withheld = set(cut_installation[1]["processes"]["ocid"])
    risk = _state(api).risk
    assert risk is not None
    assert set(pushed.new) == withheld
    assert pushed.changed == ()
    assert pushed.push_to_alert_seconds is not None
    assert pushed.push_to_alert_seconds < PUSH_TO_ALERT_BOUND_SECONDS
    # the live history gives what a fresh build on the store as it now is gives
    ocids = sorted(withheld)
    with store_of(api) as store:
        fresh = ProcurementHistory.from_store(store, settings=cut_installation[0])
        records = records_from_frames(load_process_frames(store, ocids))
    expected = build_process_features(fresh, ocids=ocids)
    pd.testing.assert_frame_equal(
        feature_frame([process_features(risk.history, record) for record in records]),
        expected,
        rtol=1e-9,
    )
    levels = risk.model.assess(expected).warning_level
    warned = {ocid for ocid, level in zip(ocids, levels, strict=True) if level != "none"}
    alerts = _alerts(api)
    live = alerts[alerts["ocid"].isin(withheld)]
    assert warned, "the pushed weeks should hold some warnings"
    assert set(live["ocid"]) == warned
    assert set(live["model_version"]) == {risk.version}
    assert pushed.alerts.written == len(warned)


def test_pushing_again_writes_nothing(
    api: TestClient, cut_installation: tuple[ServiceSettings, dict[str, pd.DataFrame]], pushed: Any
) -> None:
    before = len(_alerts(api))
    again = _state(api).push(_ingest(api, cut_installation[1]))
    assert (again.new, again.changed) == ((), ())
    assert again.alerts is not None
    assert again.alerts.scored == 0
    assert len(_alerts(api)) == before


def test_a_changed_process_refreshes_its_open_alert(
    api: TestClient, cut_installation: tuple[ServiceSettings, dict[str, pd.DataFrame]], pushed: Any
) -> None:
    risk = _state(api).risk
    assert risk is not None
    alerts = _alerts(api)
    withheld = cut_installation[1]
    ocid = next(o for o in alerts["ocid"] if o in set(withheld["processes"]["ocid"]))
    with store_of(api) as store:
        frames = load_process_frames(store, [ocid])
    frames["awards"]["value_amount"] = frames["awards"]["value_amount"] * 5.0
    summary = _state(api).push(frames)
    assert summary.changed == (ocid,)
    assert summary.alerts is not None
    assert summary.alerts.refreshed + summary.alerts.withdrawn == 1
    [record] = records_from_frames(frames)
    assessment = risk.model.assess(feature_frame([process_features(risk.history, record)]))
    now = _alerts(api).set_index("alert_id")
    key = alert_id(risk.name, risk.version, ocid)
    if assessment.warning_level[0] == "none":
        assert key not in now.index
    else:
        assert now.loc[key, "probability"] == pytest.approx(float(assessment.probability[0]))
        before = alerts.set_index("alert_id")["scored_at"].astype("datetime64[us]")[key]
        assert now["scored_at"].astype("datetime64[us]")[key] > before


def test_a_new_champion_rescores_open_alerts_and_keeps_both(api: TestClient, pushed: Any) -> None:
    state = _state(api)
    assert state.risk is not None
    before = _alerts(api)
    open_ocids = set(before.loc[before["status"] == "open", "ocid"])
    successor = state.risk.with_model(state.risk.model, f"{state.risk.version}-next")
    written = state.rescore_open_alerts(successor)
    after = _alerts(api)
    assert written.scored == len(open_ocids)
    assert written.written == len(open_ocids)  # the same model warns about the same processes
    assert set(after.loc[after["model_version"] == successor.version, "ocid"]) == open_ocids
    assert len(after) == len(before) + written.written  # the older rows stay
    assert state.rescore_open_alerts(successor).written == 0
