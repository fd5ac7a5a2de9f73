"""Batch scoring and alert writing.

``score`` loads ``models:/procurement-risk@champion`` (``--alias`` to choose another), scores
every process in the store and, with ``--store-write``, writes the warnings (levels red,
orange, yellow) to the ``alerts`` table: ``alert_id`` is the sha256 of the model name, version
and ocid, so a second run with the same model adds nothing and keeps reviewers' statuses.
Writing needs the store read-write, which DuckDB allows to one process: stop the service
first. Without ``--store-write`` it only reports what it would write. Unlike ``train``, ``score``
reads the live store (it writes back to it); the feature frame of the store's procurement rows is
read from a snapshot's frame cache when training (or an earlier scoring) built it from the
same rows with the same feature code (``training.procurement_risk.frame_cache``).

With ``--scheduler`` (``training.distributed``) the store is first written to a new snapshot
under ``<data_dir>/snapshots`` (the workers read that, never the live store), the features are
built per time partition on the workers and each partition is scored there
(``map_partitions``); the alerts come back to this process, which writes them.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd
from tqdm import tqdm

from core.settings import Settings
from features.procurement.history import HistoryRules
from models.collusion.pyfunc import load_detector, risk_model_collusion_version
from models.procurement.alerts import alerts_frame
from models.procurement.model import RiskModel
from store.database import Store, StoreError
from store.snapshot import open_snapshot, snapshot_root, write_snapshot
from training.distributed import (
    SnapshotSource,
    cluster_client,
    procurement_feature_frame,
    score_partitions,
)
from training.procurement_risk.data import store_feature_frame
from training.procurement_risk.frame_cache import collusion_identity
from training.procurement_risk.options import REGISTERED_MODEL, ScoringError
from training.tracking import CHAMPION, start_tracking


@dataclass
class ScoreResult:
    model_version: str
    scored: int
    alerts: pd.DataFrame
    written: int | None = None  # new rows in the alerts table; None without --store-write
    by_level: dict[str, int] = field(default_factory=dict)


def open_store(settings: Settings, *, read_only: bool) -> Store:
    try:
        return Store.open(settings, settings.keyring(), read_only=read_only)
    except StoreError as error:
        if read_only:
            raise
        raise ScoringError(
            f"writing alerts needs the store opened read-write, and DuckDB allows one writer: "
            f"stop the service (it holds the store) and run again. ({error})"
        ) from error


def score(
    settings: Settings,
    *,
    tracking_uri: str | None = None,
    alias: str = CHAMPION,
    store_write: bool = False,
    quiet: bool = False,
    scheduler: str | None = None,
) -> ScoreResult:
    """Score every process in the store with ``models:/procurement-risk@<alias>``, here or
    (``scheduler``) on that Dask cluster (see the module docstring)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    uri, client = start_tracking(settings, tracking_uri)
    try:
        registered = client.get_model_version_by_alias(REGISTERED_MODEL, alias)
    except MlflowException as error:
        raise ScoringError(
            f"no model {REGISTERED_MODEL}@{alias} at {uri}: run "
            f"`python -m training.procurement_risk train` first"
        ) from error
    version = str(registered.version)
    loaded = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}/{version}")
    model: RiskModel = loaded.unwrap_python_model().risk_model
    collusion_version = risk_model_collusion_version(model.metadata)
    detector = None if collusion_version is None else load_detector(uri, collusion_version)
    if detector is not None and scheduler is not None:
        raise ScoringError(
            f"{REGISTERED_MODEL} v{version} computes its collusion score with collusion"
            f" v{collusion_version}, which the Dask path does not run: score without --scheduler"
        )

    scored_at = datetime.now(UTC).replace(tzinfo=None)
    with ExitStack() as stack:
        store = stack.enter_context(open_store(settings, read_only=not store_write))
        if scheduler is None:
            with tqdm(total=1, desc="features", unit="step", disable=quiet) as bar:
                frame = store_feature_frame(
                    store,
                    settings,
                    collusion=detector,
                    collusion_identity=collusion_identity(client, collusion_version),
                )
                bar.update(1)
            with tqdm(total=len(frame), desc="score", unit="process", disable=quiet) as bar:
                alerts = alerts_frame(
                    model,
                    frame,
                    model_name=REGISTERED_MODEL,
                    model_version=version,
                    scored_at=scored_at,
                    on_chunk=bar.update,
                )
            scored = len(frame)
        else:
            cluster = stack.enter_context(cluster_client(scheduler))
            keyring = settings.keyring()
            written_snapshot = write_snapshot(
                store, snapshot_root(settings.data_dir), keyring, keep=settings.snapshot_keep
            )
            with open_snapshot(written_snapshot.path, keyring) as snapshot:
                source = SnapshotSource(snapshot.path.resolve(), settings.key_file.resolve())
                features = procurement_feature_frame(
                    cluster, snapshot, source, HistoryRules.from_settings(settings)
                )
                scored = snapshot.count("processes")
            alerts = score_partitions(
                cluster,
                features,
                model,
                model_name=REGISTERED_MODEL,
                model_version=version,
                scored_at=scored_at,
            )
        written = None
        if store_write:
            with store.transaction():
                written = store.insert_new("alerts", alerts)
            store.checkpoint()
    by_level = alerts["warning_level"].value_counts().to_dict()
    return ScoreResult(
        model_version=version,
        scored=scored,
        alerts=alerts,
        written=written,
        by_level={str(k): int(v) for k, v in by_level.items()},
    )
