"""Training jobs read a snapshot of the store: the same data version as on the store itself."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from core.settings import Settings
from features.esg.history import SupplierHistory
from features.learning.kt_features import build_events, sort_events
from models.procurement.alerts import DECISION_DATE
from store.database import Store, StoreReader
from store.snapshot import SnapshotError, latest_snapshot, list_snapshots, snapshot_root
from training import procurement_risk, supplier_esg
from training.data_source import open_training_snapshot
from training.tracking import frame_digest


@pytest.fixture
def own_data_dir(small_installation: dict[str, str], tmp_path: Path) -> Settings:
    """The small installation's keys and a copy of its store, in a data folder of its own
    (no snapshot in it yet)."""
    source = Path(small_installation["LODESTAR_DATA_DIR"]) / "lodestar.duckdb"
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(source, data_dir / "lodestar.duckdb")
    return Settings(
        environment="test",
        data_dir=data_dir,
        key_file=Path(small_installation["LODESTAR_KEY_FILE"]),
    )


def test_jobs_see_the_same_data_on_a_snapshot_as_on_the_store(
    own_data_dir: Settings, capsys: pytest.CaptureFixture
) -> None:
    settings = own_data_dir
    assert latest_snapshot(settings.data_dir) is None
    with open_training_snapshot(settings) as snapshot:
        assert "no snapshot under" in capsys.readouterr().err
        with Store.open(settings, settings.keyring(), read_only=True) as store:
            assert snapshot.table_counts() == store.table_counts()
            for job, read in _data_versions().items():
                assert read(snapshot, settings) == read(store, settings), job
    written = list_snapshots(snapshot_root(settings.data_dir))
    assert len(written) == 1
    with open_training_snapshot(settings) as again:  # the newest is reused, none written
        assert again.path == written[0]
    assert list_snapshots(snapshot_root(settings.data_dir)) == written


def _data_versions() -> dict[str, Callable[[StoreReader, Settings], str]]:
    def procurement(source: StoreReader, settings: Settings) -> str:
        frame = procurement_risk.build_feature_frame(source, settings)
        outcomes = procurement_risk.read_audit_outcomes(source)
        split = procurement_risk.default_split(frame[DECISION_DATE])
        labelled = procurement_risk.attach_labels(frame, outcomes, split, label_cutoff=None)
        return procurement_risk.data_version(labelled)

    def esg(source: StoreReader, settings: Settings) -> str:
        history = SupplierHistory.from_store(source)
        frame = supplier_esg.build_snapshots(history, supplier_esg.TrainingOptions())
        return supplier_esg.data_version(frame)

    def mastery(source: StoreReader, settings: Settings) -> str:
        return frame_digest(sort_events(build_events(source)))

    return {"procurement_risk": procurement, "supplier_esg": esg, "mastery": mastery}


def test_a_named_snapshot_that_is_missing_fails_clearly(own_data_dir: Settings) -> None:
    with pytest.raises(SnapshotError, match="no snapshot at"):
        open_training_snapshot(own_data_dir, own_data_dir.data_dir / "nowhere")


def test_no_snapshot_and_a_busy_store_says_what_to_do(own_data_dir: Settings) -> None:
    service = Store.open(own_data_dir, own_data_dir.keyring())  # holds the store, as it would
    try:
        with pytest.raises(SnapshotError, match="POST /v1/admin/snapshots"):
            open_training_snapshot(own_data_dir)
    finally:
        service.close()
