"""Supplier ESG training on a two-worker Dask cluster against the same job on one machine, on
the small world: equal snapshot rows (features and labels), close test metrics."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import lightgbm as lgb
import mlflow
import pandas as pd
import pytest

from core.settings import Settings
from features.esg.history import SupplierHistory, known_supplier_ids
from store.snapshot import open_snapshot, write_snapshot
from tests.training.installations import private_installation
from tests.training.test_supplier_esg import SMALL_OPTIONS
from training.distributed import SnapshotSource, cluster_client
from training.procurement_risk.scoring import open_store
from training.supplier_esg import (
    REGISTERED_MODEL,
    TrainResult,
    build_snapshots,
    build_snapshots_on_cluster,
    train,
)

pytestmark = pytest.mark.timeout(600)  # wall time on a loaded 2-core machine, world included

ROC_AUC_TOLERANCE = 0.1
"""How much lower the cluster model's test ROC-AUC may be than the single-machine model's.
The rows are equal, but LightGBM's data-parallel learner bins each feature from one worker's
rows, so the trees are close to, not equal to, the single-machine fit. Measured on the small
world: 0.679 one machine, 0.674 cluster. A broken fit (labels misaligned with rows) falls to
about 0.5, below the bound. One-sided: a better model passes."""


EDGE_OPTIONS = replace(SMALL_OPTIONS, calibration_cut=date(2025, 1, 1), test_cut=date(2026, 1, 1))
"""Cuts whose last one sees the demo world's deliveries (all dated 2025)."""

_DELIVERED_AWARD = """
SELECT a.ocid, a.award_id FROM awards a
JOIN contracts c ON c.ocid = a.ocid AND c.award_id = a.award_id
JOIN milestones m ON m.ocid = c.ocid AND m.contract_id = c.contract_id
WHERE m.milestone_type = 'delivery' AND m.status = 'met'
  AND m.date_met >= ?::DATE - INTERVAL 365 DAY AND m.date_met < ?::DATE
ORDER BY a.ocid, a.award_id LIMIT 1
"""


def share_an_award(settings: Settings, suppliers: tuple[str, str], before: date) -> None:
    """Name both ``suppliers`` on one award with a delivery met in the 365 days before
    ``before``: its deliveries count for both (the demo world's awards each name one)."""
    with open_store(settings, read_only=False) as store:
        ocid, award_id = store.query(_DELIVERED_AWARD, [before, before]).iloc[0]
        with store.transaction():
            store.connection.execute(
                "UPDATE awards SET supplier_ids = ? WHERE ocid = ? AND award_id = ?",
                [list(suppliers), ocid, award_id],
            )
        store.checkpoint()


def test_cluster_snapshots_equal_the_single_machine_build(
    scheduler: str, small_installation: dict[str, str], tmp_path: Path
) -> None:
    settings = private_installation(small_installation, tmp_path)
    with open_store(settings, read_only=True) as store:
        ids = known_supplier_ids(store)
    # the first and the last supplier fall in the first and the last of five partitions
    share_an_award(settings, (ids[0], ids[-1]), EDGE_OPTIONS.test_cut)
    with open_store(settings, read_only=True) as store:
        written = write_snapshot(store, tmp_path / "snapshots", settings.keyring())
    with open_snapshot(written.path, settings.keyring()) as snapshot:
        history = SupplierHistory.from_store(snapshot)
        expected = build_snapshots(history, EDGE_OPTIONS)
        with cluster_client(scheduler) as client:
            got = build_snapshots_on_cluster(
                client,
                snapshot,
                SnapshotSource.of(snapshot, settings),
                EDGE_OPTIONS,
                category_factors=history.category_factors,
                partitions=5,
            )
    # the shared award's delivery counts for the last supplier on the test cut
    last_on_test = expected[(expected["supplier_id"] == ids[-1]) & (expected["part"] == "test")]
    assert last_on_test["deliveries_365d"].item() >= 1
    assert expected["label"].sum() > 0
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


@pytest.fixture(scope="module")
def runs(
    scheduler: str, local_and_cluster: tuple[Settings, Settings]
) -> tuple[TrainResult, TrainResult]:
    one, on_cluster = local_and_cluster
    local = train(one, SMALL_OPTIONS, tracking_uri=one.mlflow_tracking_uri, quiet=True)
    distributed = train(
        on_cluster,
        SMALL_OPTIONS,
        tracking_uri=on_cluster.mlflow_tracking_uri,
        quiet=True,
        scheduler=scheduler,
    )
    return local, distributed


def test_cluster_model_scores_within_tolerance(runs: tuple[TrainResult, TrainResult]) -> None:
    local, distributed = runs
    assert distributed.data_version == local.data_version  # same rows, features and labels
    for key in ("test.suppliers", "test.incidents", "train.rows", "calibration.rows"):
        assert distributed.metrics[key] == local.metrics[key]
    roc_auc = local.metrics["model.roc_auc"], distributed.metrics["model.roc_auc"]
    print(f"test ROC-AUC one machine {roc_auc[0]:.3f}, cluster {roc_auc[1]:.3f}")
    assert roc_auc[0] > 0.5 + ROC_AUC_TOLERANCE  # else the bound would not catch a broken fit
    assert roc_auc[1] >= roc_auc[0] - ROC_AUC_TOLERANCE, roc_auc


def test_cluster_model_registers_and_serves_as_one_trained_here(
    runs: tuple[TrainResult, TrainResult], local_and_cluster: tuple[Settings, Settings]
) -> None:
    distributed = runs[1]
    assert distributed.gate.promoted  # the first model of its registry, through the same gate
    uri = local_and_cluster[1].mlflow_tracking_uri
    assert uri is not None
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert client.get_run(distributed.run_id).data.tags["executor"] == "dask"
    mlflow.set_tracking_uri(uri)
    loaded = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}/{distributed.model_version}")
    assert type(loaded.unwrap_python_model().esg_model.booster) is lgb.Booster
