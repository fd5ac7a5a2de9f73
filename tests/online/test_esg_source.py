"""The ESG source of the online layer: a supplier history fed week by week (weeks shuffled, so
rows arrive late) equals a full build on the same rows, feature for feature; a re-push
changes nothing; a late event lands at its date; readers keep the view they took."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.settings import Settings
from features.esg.build import supplier_features
from features.esg.history import SupplierHistory, read_supplier_frames
from features.esg.specs import FEATURE_NAMES
from features.online.esg import EsgSource
from features.online.source import OnlineFeatureStore
from features.procurement.history import load_procurement_frames
from store.database import Store

RTOL = 1e-9
FACTORS = {"A01": 0.5, "B02": 1.5}  # fixed carbon factors: no file read
DELIVERY_TABLES = ("processes", "awards", "contracts", "milestones")
DATED = {
    "suppliers": "registered_on",
    "supplier_certifications": "valid_from",
    "supplier_events": "event_date",
    "processes": "release_date",
}


@pytest.fixture(scope="module")
def frames(small_installation: dict[str, str]) -> dict[str, pd.DataFrame]:
    """The store's supplier rows and the procurement tables deliveries come from."""
    settings = Settings(
        data_dir=Path(small_installation["LODESTAR_DATA_DIR"]),
        key_file=Path(small_installation["LODESTAR_KEY_FILE"]),
    )
    with Store.open(settings, settings.keyring(), read_only=True) as store:
        supplier = read_supplier_frames(store)
        procurement = load_procurement_frames(store)
        from_store = SupplierHistory.from_store(store, category_factors=FACTORS)
    out = {table: supplier[table] for table in DATED if table in supplier}
    out.update({table: procurement[table] for table in DELIVERY_TABLES})
    out["_from_store"] = pd.DataFrame({"history": [from_store]})
    return out


def _tables(frames: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {table: frame for table, frame in frames.items() if not table.startswith("_")}


def _week(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).dt.to_period("W").astype(str)


def weekly_pushes(frames: Mapping[str, pd.DataFrame], seed: int) -> Iterator[dict]:
    """Every row in the push of its week (register by entry date, certificates by start,
    events by date, processes whole by their release), the weeks in shuffled order."""
    tables = _tables(frames)
    process_week = _week(tables["processes"]["release_date"]).set_axis(tables["processes"]["ocid"])
    weeks_of: dict[str, pd.Series] = {
        table: _week(tables[table][DATED[table]]).fillna("undated")
        for table in ("suppliers", "supplier_certifications", "supplier_events")
    }
    for table in DELIVERY_TABLES:
        weeks_of[table] = tables[table]["ocid"].map(process_week)
    weeks = sorted({w for series in weeks_of.values() for w in series.dropna()})
    rng = np.random.default_rng(seed)
    for week in rng.permutation(weeks):
        yield {table: tables[table][weeks_of[table] == week] for table in tables}


def assert_same_features(history: SupplierHistory, full: SupplierHistory) -> None:
    assert history.supplier_ids == full.supplier_ids
    assert history.data_through == full.data_through
    for supplier_id in full.supplier_ids:
        mine, theirs = history.get(supplier_id), full.get(supplier_id)
        assert mine.events == theirs.events
        assert mine.certifications == theirs.certifications
        assert mine.deliveries == theirs.deliveries
    for as_of in (date(2022, 1, 1), date(2023, 7, 1), date(2024, 6, 15), date(2026, 1, 1)):
        mine_frame = supplier_features(history, full.supplier_ids, as_of)[FEATURE_NAMES]
        full_frame = supplier_features(full, full.supplier_ids, as_of)[FEATURE_NAMES]
        np.testing.assert_allclose(
            mine_frame.to_numpy(), full_frame.to_numpy(), rtol=RTOL, equal_nan=True
        )


def test_a_full_build_from_the_tables_equals_the_stores(frames: dict) -> None:
    """The deliveries joined from pushed procurement tables are those the store's query
    joins (the two ways a history gets them)."""
    full = SupplierHistory.from_frames(_tables(frames), category_factors=FACTORS)
    assert sum(len(full.get(s).deliveries) for s in full.supplier_ids) > 0
    assert_same_features(full, frames["_from_store"]["history"].iloc[0])


@pytest.mark.parametrize("seed", [0, 1])
def test_weekly_pushes_in_any_order_equal_a_full_build(frames: dict, seed: int) -> None:
    full = SupplierHistory.from_frames(_tables(frames), category_factors=FACTORS)
    source = EsgSource(SupplierHistory.empty(category_factors=FACTORS))
    for batch in weekly_pushes(frames, seed):
        source.push(batch)
    assert source.version > 10
    assert_same_features(source.view(), full)


def test_a_repush_changes_nothing(frames: dict) -> None:
    source = EsgSource(SupplierHistory.empty(category_factors=FACTORS))
    store = OnlineFeatureStore([source])
    for batch in weekly_pushes(frames, 0):
        store.push(batch)
    before, version = source.view(), source.version
    for batch in weekly_pushes(frames, 2):
        outcome = store.push(batch)["esg"]
        assert outcome.touched == ()
    assert source.version == version
    assert source.view() is before


def test_processes_replace_their_deliveries(frames: dict) -> None:
    """A process pushed as an open tender, then whole: its deliveries are the whole one's;
    pushed again without milestones (they were withdrawn), it has none."""
    tables = _tables(frames)
    full = SupplierHistory.from_frames(tables, category_factors=FACTORS)
    source = EsgSource(SupplierHistory.empty(category_factors=FACTORS))
    processes_only = {**tables, "milestones": tables["milestones"].iloc[0:0]}
    source.push(processes_only)
    assert sum(len(source.view().get(s).deliveries) for s in full.supplier_ids) == 0
    outcome = source.push(tables)
    assert outcome.changed
    assert not outcome.new
    assert_same_features(source.view(), full)
    source.push(processes_only)
    assert sum(len(source.view().get(s).deliveries) for s in full.supplier_ids) == 0


def test_a_late_event_lands_at_its_date_and_old_views_stay(frames: dict) -> None:
    tables = _tables(frames)
    source = EsgSource(SupplierHistory.from_frames(tables, category_factors=FACTORS))
    supplier_id = source.view().supplier_ids[0]
    taken = source.view()
    before = supplier_features(taken, [supplier_id], date(2025, 1, 1))
    late = pd.DataFrame(
        [
            {
                "event_id": "late-listing",
                "supplier_id": supplier_id,
                "event_type": "court_defaulter",
                "event_date": date(2024, 3, 1),
                "severity": "serious",
                "deaths": 0,
                "fine_cny": 0.0,
                "listed_until": date(2027, 1, 1),
                "evidence_document": "court/2024/1",
            }
        ]
    )
    outcome = source.push({"supplier_events": late})
    assert outcome.changed == (supplier_id,)
    now = source.view()
    assert now.get(supplier_id).events[-1].event_id != "late-listing"  # sorted by date
    earlier = supplier_features(now, [supplier_id], date(2024, 3, 1))  # strictly before
    full_before = supplier_features(taken, [supplier_id], date(2024, 3, 1))
    np.testing.assert_allclose(
        earlier[FEATURE_NAMES].to_numpy(float), full_before[FEATURE_NAMES].to_numpy(float),
        equal_nan=True,
    )  # fmt: skip
    after = supplier_features(now, [supplier_id], date(2025, 1, 1))
    assert (
        after["governance_listings_active"].iloc[0]
        == before["governance_listings_active"].iloc[0] + 1
    )
    # the view taken before the push is untouched
    again = supplier_features(taken, [supplier_id], date(2025, 1, 1))
    np.testing.assert_allclose(
        again[FEATURE_NAMES].to_numpy(float), before[FEATURE_NAMES].to_numpy(float),
        equal_nan=True,
    )  # fmt: skip
    full = SupplierHistory.from_frames(
        {**tables, "supplier_events": pd.concat([tables["supplier_events"], late])},
        category_factors=FACTORS,
    )
    assert_same_features(now, full)


def test_a_register_frame_without_esg_columns_is_ignored(frames: dict) -> None:
    tables = _tables(frames)
    source = EsgSource(SupplierHistory.from_frames(tables, category_factors=FACTORS))
    before = source.view()
    fingerprints = tables["suppliers"][["supplier_id"]]
    outcome = source.push({"suppliers": fingerprints})
    assert outcome.ignored_rows == len(fingerprints)
    assert source.view() is before
