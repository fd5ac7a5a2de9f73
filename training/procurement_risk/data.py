"""The feature frame the model trains and scores on, and its data version.

Unit and features: one row per contracting process, built by
``features.procurement.build.build_process_features`` from a snapshot of the store
(``training.data_source``: ``--snapshot``, else the newest), each feature as of the process's
``decision_date``. The members' report features (``features.procurement.feedback``) come
from the snapshot's ``feedback_reports``, only those submitted before that date; a snapshot
without reports gives 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from core.settings import Settings
from features.procurement.build import build_process_features
from features.procurement.collusion.point_in_time import CollusionScorer
from features.procurement.history import HistoryRules, ProcurementHistory
from features.procurement.specs import FEATURES, IDENTITY_COLUMNS
from models.procurement.alerts import DECISION_DATE, OCID
from store.database import StoreReader
from store.snapshot import Snapshot
from training.distributed import SnapshotSource, procurement_feature_frame
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
    history = ProcurementHistory.from_store(store, settings=settings)
    return _checked_and_sorted(build_process_features(history, collusion=collusion))


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
    frame = frame.copy()
    frame[DECISION_DATE] = pd.to_datetime(frame[DECISION_DATE])
    return frame.sort_values([DECISION_DATE, OCID], kind="stable").reset_index(drop=True)


def data_version(frame: pd.DataFrame) -> str:
    """sha256 over the ocids, decision dates, features, parts and labels, in row order."""
    return frame_digest(frame[[OCID, DECISION_DATE, *FEATURES, "part", LABEL]])
