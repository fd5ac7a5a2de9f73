"""Training and batch scoring on an existing Dask cluster (``--scheduler tcp://host:8786``).

Without a scheduler address (``--scheduler``, else ``LODESTAR_DASK_SCHEDULER``: see
``training.cli.scheduler_address``) nothing here runs and every job works on one machine as
before. With one, the client (the process that runs the command) connects to the operator's
scheduler and:

* sends the workers no store data and no key for the features: each task opens the snapshot
  itself (``SnapshotSource``: the snapshot folder and the key file, at the same paths on every
  worker, or the key in the worker's ``LODESTAR_STORE_KEY``) and reads only its processes;
* builds the procurement features per time partition (``procurement_feature_frame``): the
  processes sorted by decision date are cut into contiguous partitions, and each partition's
  history holds every process with any date before the partition's last decision date. Every
  feature counts only events strictly before its process's decision date, and a process's
  events are never dated before the earliest date it carries, so a partition's history holds
  every event its features can see: the features equal the single-machine build, at the
  partition edges too. The feature frame (one row per process) comes back to the client,
  which attaches labels and splits by time as on one machine;
* fits the LightGBM booster with ``lightgbm.dask.DaskLGBMClassifier`` (``dask_booster``, on
  the encoded training matrix the client sends, split over the workers) and
  keeps its ``to_local()`` booster, a plain ``lightgbm.Booster``: the calibrator, isolation
  forest, thresholds and the MLflow logging, registration and champion gate then run on the
  client exactly as on one machine, and the logged model serves as one trained there;
* scores with ``map_partitions`` on the workers (``score_partitions``).

Supplier ESG (``training.supplier_esg.build_snapshots_on_cluster``) partitions by supplier
instead: each task reads the rows of its suppliers only and builds their rows on every cut;
a supplier's features and label read nothing of another supplier, so a partition edge cuts
no history. Its booster is fitted by ``dask_booster`` as well.

Mastery and the study recommender (``training.distributed_learning``) partition by learner
instead and train with ``dask_fit`` on rows that stay on the workers.

The MLflow tracking server is used by the client only.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.settings import Settings
from features.procurement.build import build_process_features, feature_frame
from features.procurement.history import (
    REPORTS_TABLE,
    SUPPLIER_COLUMNS,
    HistoryRules,
    ProcessRecord,
    ProcurementHistory,
    load_process_frames,
    records_from_frames,
)
from models.procurement.alerts import DECISION_DATE, OCID, alerts_frame
from models.procurement.model import RiskModel
from store.queries.feedback import read_linked_reports
from store.snapshot import Snapshot, open_snapshot

if TYPE_CHECKING:
    import dask.dataframe as dd
    import lightgbm as lgb
    from distributed import Client

EARLIEST = "earliest_date"
"""Column of ``process_dates``: the earliest date a process carries (ns, NaN when none)."""

_DASK_CONFIG = {"dataframe.convert-string": False}
"""Frames keep the builder's dtypes (text as object): a Dask default would make them Arrow
strings, and the model's encoder would then see other dtypes than on one machine."""


@contextmanager
def cluster_client(address: str, *, timeout: float = 30.0) -> Iterator[Client]:
    """A client of the scheduler at ``address``, closed on exit; never the default client,
    so nothing else in the process computes on the cluster by accident."""
    import dask
    from distributed import Client

    client = Client(address, timeout=timeout, set_as_default=False)
    try:
        with dask.config.set(_DASK_CONFIG):
            yield client
    finally:
        client.close()


def worker_count(client: Client) -> int:
    return max(1, len(client.scheduler_info(n_workers=-1)["workers"]))


# --------------------------------------------------------------------------------------------
# The snapshot, as the workers open it


@dataclass(frozen=True)
class SnapshotSource:
    """What a task needs to open the snapshot on its worker: the snapshot folder and the key
    file (paths as the workers see them). The key itself never travels."""

    path: Path
    key_file: Path

    @classmethod
    def of(cls, snapshot: Snapshot, settings: Settings) -> SnapshotSource:
        """The source of ``snapshot``, opened on the client with ``settings``' key file:
        absolute paths, which the workers must see at the same places."""
        return cls(snapshot.path.resolve(), settings.key_file.resolve())

    def open(self) -> Snapshot:
        """The snapshot, opened on this worker (files not re-hashed: the client checked them)."""
        keyring = Settings(key_file=self.key_file).keyring()
        return open_snapshot(self.path, keyring, verify_files=False)


def _frames(snapshot: Snapshot, ocids: Sequence[str]) -> dict[str, pd.DataFrame]:
    frames = load_process_frames(snapshot, ocids)
    frames["suppliers"] = snapshot.query(
        f"SELECT {', '.join(SUPPLIER_COLUMNS)} FROM suppliers ORDER BY supplier_id"
    )
    frames[REPORTS_TABLE] = read_linked_reports(snapshot)
    return frames


def _earliest(record: ProcessRecord) -> float:
    """The earliest date ``record`` carries, ns (NaN when it has none): none of its history
    events (awards, prices, bids, deliveries) is dated before it."""
    dates = [
        record.tender_start,
        record.tender_end,
        record.release_date,
        record.award_date,
        record.facts_date,
        *record.contract_amendment_dates,
        *(bid.date for bid in record.bids),
        *(award.date for award in record.awards),
        *(contract.date_signed for contract in record.contracts),
        *(milestone.due for milestone in record.milestones),
        *(milestone.met for milestone in record.milestones),
    ]
    present = [d for d in dates if d is not None]
    return float(min(present)) if present else math.nan


def process_dates(ocids: Sequence[str], *, source: SnapshotSource) -> pd.DataFrame:
    """A task: ``ocid``, ``decision_date`` and ``earliest_date`` (ns as float, NaN when
    missing) of the processes ``ocids``."""
    with source.open() as snapshot:
        records = records_from_frames(load_process_frames(snapshot, ocids))
    return pd.DataFrame(
        {
            OCID: np.array([r.ocid for r in records], dtype=object),
            DECISION_DATE: np.array(
                [math.nan if r.decision_date is None else float(r.decision_date) for r in records]
            ),
            EARLIEST: np.array([_earliest(r) for r in records]),
        }
    )


# --------------------------------------------------------------------------------------------
# Time partitions


@dataclass(frozen=True)
class TimePartition:
    """Processes whose features one task builds (``ocids``), and the processes its history
    must hold (``history``: every process with a date before the last decision date of
    ``ocids``, and ``ocids`` themselves)."""

    ocids: tuple[str, ...]
    history: tuple[str, ...]


def time_partitions(dates: pd.DataFrame, partitions: int) -> list[TimePartition]:
    """Cut ``dates`` (rows of ``process_dates``) into at most ``partitions`` contiguous runs
    of the order (decision date, ocid), of near-equal size; processes without a decision
    date (scored against the whole history) form a last partition of their own."""
    ordered = dates.sort_values([DECISION_DATE, OCID], kind="stable", na_position="last")
    dated = ordered[ordered[DECISION_DATE].notna()]
    undated = ordered[ordered[DECISION_DATE].isna()]
    earliest = ordered[EARLIEST].to_numpy()
    result: list[TimePartition] = []
    for run in np.array_split(np.arange(len(dated)), max(1, min(partitions, len(dated)))):
        if not len(run):
            continue
        members = dated.iloc[run]
        last = float(members[DECISION_DATE].max())
        before = ordered[OCID][(earliest < last) | np.isnan(earliest)]
        history = sorted({*before.tolist(), *members[OCID].tolist()})
        result.append(TimePartition(tuple(members[OCID]), tuple(history)))
    if len(undated):
        result.append(TimePartition(tuple(undated[OCID]), tuple(sorted(ordered[OCID]))))
    return result


def partition_features(
    partition: TimePartition, *, source: SnapshotSource, rules: HistoryRules
) -> pd.DataFrame:
    """A task: the feature rows of ``partition.ocids`` (``build_process_features``) from a
    history of ``partition.history``, sorted by decision date and ocid."""
    with source.open() as snapshot:
        frames = _frames(snapshot, partition.history)
    history = ProcurementHistory.from_frames(frames, rules=rules)
    frame = build_process_features(history, ocids=partition.ocids)
    frame[DECISION_DATE] = pd.to_datetime(frame[DECISION_DATE])
    return frame.sort_values([DECISION_DATE, OCID], kind="stable").reset_index(drop=True)


def procurement_feature_frame(
    client: Client,
    snapshot: Snapshot,
    source: SnapshotSource,
    rules: HistoryRules,
    *,
    partitions: int | None = None,
) -> dd.DataFrame:
    """The procurement features as a Dask frame of time partitions (see the module
    docstring), in the order of ``training.procurement_risk.build_feature_frame``;
    ``partitions`` defaults to two per worker. Computes the processes' dates on the workers."""
    import dask.dataframe as dd

    count = partitions or 2 * worker_count(client)
    ocids = snapshot.query("SELECT ocid FROM processes ORDER BY ocid")[OCID].astype(str).tolist()
    chunks = [tuple(chunk) for chunk in np.array_split(np.array(ocids, dtype=object), count)]
    meta_dates = pd.DataFrame(
        {
            OCID: pd.Series(dtype=object),
            DECISION_DATE: pd.Series(dtype=float),
            EARLIEST: pd.Series(dtype=float),
        }
    )
    dates = dd.from_map(process_dates, [c for c in chunks if c], source=source, meta=meta_dates)
    computed: pd.DataFrame = client.compute(dates, sync=True)
    meta = feature_frame([])
    meta[DECISION_DATE] = pd.to_datetime(meta[DECISION_DATE])
    return dd.from_map(
        partition_features,
        time_partitions(computed, count),
        source=source,
        rules=rules,
        meta=meta,
        enforce_metadata=False,
    )


# --------------------------------------------------------------------------------------------
# Training and scoring


def dask_booster(
    client: Client,
    matrix: np.ndarray,
    labels: np.ndarray,
    *,
    feature_names: list[str],
    categorical_index: list[int],
    params: dict[str, Any],
    rounds: int,
) -> lgb.Booster:
    """``params`` (LightGBM's, as for ``lightgbm.train``) fitted by ``DaskLGBMClassifier``
    on ``matrix`` (rows × features) and ``labels`` (0/1) spread over the workers; returns the
    local booster, which predicts like one trained by ``lightgbm.train``. LightGBM's
    data-parallel learner sums histograms across workers, but each worker bins its features
    from its own rows, so the trees are close to, not equal to, a single-machine fit."""
    import dask.array as da

    workers = worker_count(client)
    rows_per_chunk = max(1, math.ceil(len(matrix) / workers))
    x = da.from_array(matrix, chunks=(rows_per_chunk, matrix.shape[1]))
    y = da.from_array(labels.astype(int), chunks=(rows_per_chunk,))
    x, y = client.persist([x, y])
    return dask_fit(
        client,
        x,
        y,
        feature_names=feature_names,
        categorical_index=categorical_index,
        params=params,
        rounds=rounds,
    )


def dask_fit(
    client: Client,
    x: Any,
    y: Any,
    *,
    feature_names: list[str],
    params: dict[str, Any],
    rounds: int,
    categorical_index: list[int] | None = None,
    group: Any = None,
) -> lgb.Booster:
    """``params`` fitted on the Dask collections ``x`` (rows × features, an array or a frame
    of ``feature_names``) and ``y`` (labels, partitioned as ``x``), which stay on the workers:
    ``DaskLGBMClassifier``, or ``DaskLGBMRanker`` when ``group`` (a Dask array of group sizes,
    one chunk per partition of ``x``, summing to its rows) is given. Returns the local
    booster (see ``dask_booster``)."""
    from lightgbm.dask import DaskLGBMClassifier, DaskLGBMRanker

    settings = {k: v for k, v in params.items() if k != "num_threads"}
    threads = params.get("num_threads", 1)
    fit_options: dict[str, Any] = {"feature_name": feature_names}
    if categorical_index:
        fit_options["categorical_feature"] = categorical_index
    estimator: Any
    if group is None:
        estimator = DaskLGBMClassifier(
            client=client, n_estimators=rounds, n_jobs=threads, **settings
        )
    else:
        estimator = DaskLGBMRanker(client=client, n_estimators=rounds, n_jobs=threads, **settings)
        fit_options["group"] = group
    with client.as_current():  # lightgbm.dask waits on the current client, not its own
        estimator.fit(x, y, **fit_options)
    booster: lgb.Booster = estimator.to_local().booster_
    return booster


def _score_partition(frame: pd.DataFrame, model: RiskModel, **names: Any) -> pd.DataFrame:
    """``alerts_frame`` with the partition first, as ``map_partitions`` calls it."""
    return alerts_frame(model, frame, **names)


def score_partitions(
    client: Client,
    features: dd.DataFrame,
    model: RiskModel,
    *,
    model_name: str,
    model_version: str,
    scored_at: datetime,
) -> pd.DataFrame:
    """The ``alerts`` rows of every partition of ``features``, scored on the workers with
    ``alerts_frame`` (the model is sent once, as part of the graph), in partition order."""
    meta = alerts_frame(
        model,
        features._meta,
        model_name=model_name,
        model_version=model_version,
        scored_at=scored_at,
    )
    alerts = features.map_partitions(
        _score_partition,
        model,
        model_name=model_name,
        model_version=model_version,
        scored_at=scored_at,
        meta=meta,
        enforce_metadata=False,
    )
    result: pd.DataFrame = client.compute(alerts, sync=True)
    return result.reset_index(drop=True)
