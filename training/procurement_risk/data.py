"""The feature frame the model trains and scores on, and its data version.

Unit and features: one row per contracting process, built by
``features.procurement.build.build_process_features`` from a snapshot of the store
(``training.data_source``: ``--snapshot``, else the newest), each feature as of the process's
``decision_date``. The members' report features (``features.procurement.feedback``) come
from the snapshot's ``feedback_reports``, only those submitted before that date; a snapshot
without reports gives 0.

``snapshot_feature_frame`` and ``store_feature_frame`` read the frame built earlier from the
same rows by the same feature code when there is one (``training.procurement_risk.frame_cache``),
and file the one they build.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from core.settings import Settings
from features.procurement.build import build_store_features
from features.procurement.collusion.point_in_time import CollusionScorer
from features.procurement.history import HistoryRules
from features.procurement.specs import FEATURES, IDENTITY_COLUMNS
from models.procurement.alerts import DECISION_DATE, OCID
from store.database import Store, StoreReader
from store.snapshot import Snapshot, SnapshotError, snapshot_root
from training.distributed import SnapshotSource, procurement_feature_frame
from training.procurement_risk.frame_cache import (
    feature_fingerprint,
    find_frame,
    frame_key,
    frame_path,
    live_table_hashes,
    manifest_table_hashes,
    matching_snapshot,
    read_frame,
    write_frame,
)
from training.procurement_risk.labels import LABEL
from training.procurement_risk.options import TrainingError
from training.tracking import frame_digest

if TYPE_CHECKING:
    from distributed import Client


def build_feature_frame(
    store: StoreReader, settings: Settings, *, collusion: CollusionScorer | None = None
) -> pd.DataFrame:
    """One row per process: ``IDENTITY_COLUMNS`` and ``FEATURES``, sorted by decision date;
    ``collusion``: the detector behind ``collusion_score`` (None: the CV rule)."""
    return _checked_and_sorted(build_store_features(store, settings=settings, collusion=collusion))


def snapshot_feature_frame(
    snapshot: Snapshot,
    settings: Settings,
    *,
    collusion: CollusionScorer | None = None,
    collusion_identity: str,
) -> pd.DataFrame:
    """``build_feature_frame(snapshot, ...)``, read from the frame cache when a frame of the
    same rows and feature fingerprint is there (``collusion_identity``: ``frame_cache``'s
    name of ``collusion``), else built and written into ``snapshot``'s folder."""
    fingerprint = feature_fingerprint(HistoryRules.from_settings(settings), collusion_identity)
    key = frame_key(manifest_table_hashes(snapshot.manifest), fingerprint)
    cached = _read_cached(find_frame(snapshot.path.parent, key), settings)
    if cached is not None:
        return cached
    frame = build_feature_frame(snapshot, settings, collusion=collusion)
    _write_cached(frame, frame_path(snapshot.path, key), settings)
    return frame


def store_feature_frame(
    store: Store,
    settings: Settings,
    *,
    collusion: CollusionScorer | None = None,
    collusion_identity: str,
) -> pd.DataFrame:
    """``build_feature_frame(store, ...)``, read from the frame cache when a snapshot holds a
    frame of the store's current rows (``INPUT_TABLES``) and of the same feature fingerprint;
    else built, and filed in the newest snapshot of the same rows when there is one."""
    fingerprint = feature_fingerprint(HistoryRules.from_settings(settings), collusion_identity)
    hashes = live_table_hashes(store.connection)
    key = frame_key(hashes, fingerprint)
    root = snapshot_root(settings.data_dir)
    cached = _read_cached(find_frame(root, key), settings)
    if cached is not None:
        return cached
    frame = build_feature_frame(store, settings, collusion=collusion)
    target = matching_snapshot(root, hashes)
    if target is not None:
        _write_cached(frame, frame_path(target, key), settings)
    return frame


def _read_cached(path: Path | None, settings: Settings) -> pd.DataFrame | None:
    """The cached frame at ``path``; None when there is none or it cannot be read (another
    key, a damaged file): the caller builds it again."""
    if path is None:
        return None
    try:
        return _checked_and_sorted(read_frame(path, settings.keyring()))
    except (SnapshotError, OSError, KeyError):
        return None


def _write_cached(frame: pd.DataFrame, path: Path, settings: Settings) -> None:
    """File ``frame`` at ``path``; a snapshot folder that cannot be written (read-only, full)
    only means the next run builds again."""
    try:
        write_frame(frame, path, settings.keyring())
    except OSError:
        return


def build_feature_frame_on_cluster(
    client: Client, snapshot: Snapshot, settings: Settings, *, partitions: int | None = None
) -> pd.DataFrame:
    """``build_feature_frame`` of ``snapshot`` computed per time partition on the workers of
    ``client`` (``training.distributed``); equal to the single-machine frame. The workers
    open the snapshot and the key file at the paths the client sees; ``partitions`` defaults
    to two per worker."""
    source = SnapshotSource(snapshot.path.resolve(), settings.key_file.resolve())
    features = procurement_feature_frame(
        client, snapshot, source, HistoryRules.from_settings(settings), partitions=partitions
    )
    return _checked_and_sorted(client.compute(features, sync=True))


def _checked_and_sorted(frame: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in (*IDENTITY_COLUMNS, *FEATURES) if c not in frame.columns]
    if missing:
        raise TrainingError(f"the feature builder did not return column(s) {missing}")
    frame[DECISION_DATE] = pd.to_datetime(frame[DECISION_DATE])
    return frame.sort_values([DECISION_DATE, OCID], kind="stable").reset_index(drop=True)


def data_version(frame: pd.DataFrame) -> str:
    """sha256 over the ocids, decision dates, features, parts and labels, in row order."""
    return frame_digest(frame[[OCID, DECISION_DATE, *FEATURES, "part", LABEL]])
