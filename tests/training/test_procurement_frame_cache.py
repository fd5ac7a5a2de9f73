"""The procurement feature frame built once per snapshot and feature code: the chunked build
equals the whole one, the cached frame round-trips exactly and encrypted, scoring from the
cache writes exactly the alerts a fresh build gives, and changed rows, settings, detector or
code build again. Real store, real snapshots, real MLflow SQLite registry."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from core.settings import Settings
from features.procurement.build import build_process_features, build_store_features
from features.procurement.history import HistoryRules, ProcurementHistory
from store.database import Store
from store.snapshot import SnapshotError, open_snapshot, snapshot_root, write_snapshot
from tests.training.test_procurement_risk import SMALL_OPTIONS
from training.procurement_risk import data as data_module
from training.procurement_risk import frame_cache, score, train
from training.procurement_risk.data import (
    build_feature_frame,
    snapshot_feature_frame,
    store_feature_frame,
)
from training.procurement_risk.frame_cache import (
    CACHE_FOLDER,
    CV_RULE,
    feature_fingerprint,
    frame_key,
    live_table_hashes,
    manifest_table_hashes,
    read_frame,
    write_frame,
)

STORE = "lodestar.duckdb"


def _own_installation(small_installation: dict[str, str], root: Path) -> Settings:
    """The small world's store copied under ``root``, which is also the data folder (its own
    snapshots and frames) and holds the MLflow store."""
    source = Path(small_installation["LODESTAR_DATA_DIR"]) / STORE
    shutil.copy(source, root / STORE)
    if Path(f"{source}.wal").exists():
        shutil.copy(f"{source}.wal", root / f"{STORE}.wal")
    return Settings(
        environment="test",
        data_dir=root,
        store_path=root / STORE,
        key_file=Path(small_installation["LODESTAR_KEY_FILE"]),
        mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
    )


def _snapshot(settings: Settings) -> Path:
    keyring = settings.keyring()
    with Store.open(settings, keyring, read_only=True) as store:
        return write_snapshot(store, snapshot_root(settings.data_dir), keyring).path


class _Builds:
    """Counts the fresh builds of ``training.procurement_risk.data``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = data_module.build_feature_frame

        def counted(*args: object, **kwargs: object) -> pd.DataFrame:
            self.count += 1
            return original(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(data_module, "build_feature_frame", counted)


@pytest.fixture(scope="module")
def installation(
    small_installation: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return _own_installation(small_installation, tmp_path_factory.mktemp("frame-cache"))


@pytest.fixture(scope="module")
def fresh_frame(installation: Settings) -> pd.DataFrame:
    with Store.open(installation, installation.keyring(), read_only=True) as store:
        return build_feature_frame(store, installation)


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> _Builds:
    return _Builds(monkeypatch)


def test_the_chunked_build_equals_the_whole_one(small_store: Store) -> None:
    whole = build_process_features(ProcurementHistory.from_store(small_store))
    assert len(whole) > 97 * 3
    for size in (97, len(whole)):  # several chunks; one, read once
        chunked = build_store_features(small_store, processes_per_chunk=size)
        pd.testing.assert_frame_equal(chunked, whole)


def test_the_frame_round_trips_exactly_and_encrypted(
    fresh_frame: pd.DataFrame, installation: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "frame.parquet"
    write_frame(fresh_frame, path, installation.keyring())
    pd.testing.assert_frame_equal(read_frame(path, installation.keyring()), fresh_frame)
    assert os.stat(path).st_mode & 0o777 == 0o600
    raw = path.read_bytes()
    assert str(fresh_frame["ocid"].iloc[0]).encode() not in raw
    assert str(fresh_frame["buyer_id"].iloc[0]).encode() not in raw
    other = replace(installation.keyring(), store_key="another key entirely, 32 bytes+")
    with pytest.raises(SnapshotError):
        read_frame(path, other)


def test_training_builds_once_per_snapshot_and_fingerprint(
    installation: Settings, fresh_frame: pd.DataFrame, builds: _Builds
) -> None:
    path = _snapshot(installation)
    keyring = installation.keyring()
    with open_snapshot(path, keyring) as snapshot:
        first = snapshot_feature_frame(snapshot, installation, collusion_identity=CV_RULE)
        again = snapshot_feature_frame(snapshot, installation, collusion_identity=CV_RULE)
        assert builds.count == 1
        assert len(list((path / CACHE_FOLDER).glob("*.parquet"))) == 1
        pd.testing.assert_frame_equal(first, fresh_frame)
        pd.testing.assert_frame_equal(again, fresh_frame)
        # another collusion detector, another feature setting: built again, filed beside
        snapshot_feature_frame(snapshot, installation, collusion_identity="collusion v9 run x")
        stricter = installation.model_copy(update={"minimum_tender_days": 25})
        snapshot_feature_frame(snapshot, stricter, collusion_identity=CV_RULE)
        assert builds.count == 3
        assert len(list((path / CACHE_FOLDER).glob("*.parquet"))) == 3
        hashes = manifest_table_hashes(snapshot.manifest)
    rules = HistoryRules.from_settings(installation)
    base = frame_key(hashes, feature_fingerprint(rules, CV_RULE))
    assert base != frame_key(
        hashes, feature_fingerprint(replace(rules, price_window_days=90), CV_RULE)
    )
    assert base != frame_key({**hashes, "bids": "0" * 64}, feature_fingerprint(rules, CV_RULE))


def test_the_code_fingerprint_follows_the_feature_source(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rules = HistoryRules()
    before = feature_fingerprint(rules, CV_RULE)
    assert feature_fingerprint(rules, CV_RULE) == before
    module = tmp_path / "features" / "procurement" / "extra.py"
    module.parent.mkdir(parents=True)
    module.write_text("X = 1\n")
    monkeypatch.setattr(frame_cache, "REPO", tmp_path)
    monkeypatch.setattr(frame_cache, "FEATURE_SOURCES", ("features/procurement",))
    one = feature_fingerprint(rules, CV_RULE)
    module.write_text("X = 2\n")
    assert feature_fingerprint(rules, CV_RULE) not in {one, before}


def test_scoring_from_the_cache_writes_the_alerts_of_a_fresh_build(
    small_installation: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _own_installation(small_installation, tmp_path)
    uri = settings.resolved_mlflow_tracking_uri
    trained = train(settings, SMALL_OPTIONS, tracking_uri=uri, quiet=True)
    (snapshot,) = list(snapshot_root(settings.data_dir).iterdir())
    (filed,) = list((snapshot / CACHE_FOLDER).glob("*.parquet"))

    builds = _Builds(monkeypatch)
    cached = score(settings, tracking_uri=uri, quiet=True)
    assert builds.count == 0  # read the frame training filed
    shutil.rmtree(snapshot / CACHE_FOLDER)
    fresh = score(settings, tracking_uri=uri, quiet=True)
    assert builds.count == 1
    assert filed.exists()  # filed again in the snapshot of the same rows

    assert cached.model_version == fresh.model_version == trained.model_version
    assert len(cached.alerts) > 0
    columns = [c for c in cached.alerts.columns if c != "scored_at"]
    pd.testing.assert_frame_equal(cached.alerts[columns], fresh.alerts[columns])

    # changed rows: the store's frame is no longer found, and no snapshot of them exists
    keyring = settings.keyring()
    with Store.open(settings, keyring) as store:
        before = live_table_hashes(store.connection)
        store.connection.execute("DELETE FROM bids WHERE bid_id = (SELECT min(bid_id) FROM bids)")
        after = live_table_hashes(store.connection)
        assert before["bids"] != after["bids"]
        assert {k for k in before if before[k] != after[k]} == {"bids"}
        store_feature_frame(store, settings, collusion_identity=CV_RULE)
    assert builds.count == 2
    assert len(list((snapshot / CACHE_FOLDER).glob("*.parquet"))) == 1
