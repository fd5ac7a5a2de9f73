"""Procurement risk on a two-worker Dask cluster (``training.distributed``) against the same
job on one machine, on the small world: equal features, close test metrics, equal alerts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import pytest

from core.settings import Settings
from store.snapshot import open_snapshot, write_snapshot
from tests.training.test_procurement_risk import SMALL_OPTIONS
from training.distributed import TimePartition, cluster_client, time_partitions
from training.procurement_risk import (
    REGISTERED_MODEL,
    TrainResult,
    build_feature_frame,
    score,
    train,
)
from training.procurement_risk.data import build_feature_frame_on_cluster
from training.procurement_risk.scoring import open_store

pytestmark = pytest.mark.timeout(
    900
)  # wall time on a loaded 2-core machine, world fixtures included

PR_AUC_TOLERANCE = 0.15
"""How much lower the cluster model's test PR-AUC may be than the single-machine model's.
The features are equal, but LightGBM's data-parallel learner bins each feature from one
worker's rows and the rows reach the workers in no fixed order, so the trees differ from the
single-machine fit and from one cluster run to the next. On the small world's few dozen
audited test processes one re-ranked confirmed process moves PR-AUC by about 0.1; measured
gaps: 0.08 (0.356 one machine, 0.279 cluster). A broken fit (labels misaligned with rows)
falls to the no-skill level, which the test also checks. One-sided: a better model passes."""
# The Brier score is not compared: over the small world's few dozen audited test processes it
# moved from 0.066 to 0.250 between two cluster runs of the same data (calibration fitted on as
# few rows), so no tolerance both holds and catches a broken fit; PR-AUC and the no-skill
# bound do.


def test_time_partitions_hold_every_earlier_process() -> None:
    ns = pd.Timestamp("2025-01-01").value
    day = 86_400 * 10**9
    dates = pd.DataFrame(
        {
            "ocid": ["a", "b", "c", "d", "e"],
            "decision_date": [ns + 3 * day, ns + day, ns + 2 * day, np.nan, ns + 4 * day],
            # "e" is decided last but its bids are dated before "c" is decided
            "earliest_date": [ns, ns, ns + day, np.nan, ns + day // 2],
        }
    )
    parts = time_partitions(dates, 2)
    assert parts == [
        TimePartition(("b", "c"), ("a", "b", "c", "d", "e")),
        TimePartition(("a", "e"), ("a", "b", "c", "d", "e")),
        TimePartition(("d",), ("a", "b", "c", "d", "e")),
    ]
    first = time_partitions(dates, 4)[0]
    assert first == TimePartition(("b",), ("a", "b", "d", "e"))


def test_cluster_features_equal_the_single_machine_build(
    scheduler: str, local_and_cluster: tuple[Settings, Settings], tmp_path: Path
) -> None:
    settings = local_and_cluster[0]
    with open_store(settings, read_only=True) as store:
        written = write_snapshot(store, tmp_path, settings.keyring())
    with open_snapshot(written.path, settings.keyring()) as snapshot:
        expected = build_feature_frame(snapshot, settings)
        with cluster_client(scheduler) as client:
            # five partitions: four edges inside the year, each must see all before it
            got = build_feature_frame_on_cluster(client, snapshot, settings, partitions=5)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)


@pytest.fixture(scope="module")
def runs(
    scheduler: str, local_and_cluster: tuple[Settings, Settings]
) -> tuple[TrainResult, TrainResult]:
    options = replace(SMALL_OPTIONS, seed=3)
    one, on_cluster = local_and_cluster
    local = train(one, options, tracking_uri=one.mlflow_tracking_uri, quiet=True)
    distributed = train(
        on_cluster,
        options,
        tracking_uri=on_cluster.mlflow_tracking_uri,
        quiet=True,
        scheduler=scheduler,
    )
    return local, distributed


def test_cluster_model_scores_within_tolerance(runs: tuple[TrainResult, TrainResult]) -> None:
    local, distributed = runs
    assert distributed.data_version == local.data_version  # same rows, labels and features
    assert distributed.gate.promoted  # the first model of its registry
    for key in ("test.processes", "test.audited", "test.confirmed"):
        assert distributed.metrics[key] == local.metrics[key]
    pr_auc = local.metrics["model.pr_auc"], distributed.metrics["model.pr_auc"]
    assert pr_auc[1] >= pr_auc[0] - PR_AUC_TOLERANCE, pr_auc
    no_skill = distributed.metrics["test.confirmed"] / distributed.metrics["test.audited"]
    assert distributed.metrics["model.pr_auc"] > no_skill


def test_cluster_scoring_equals_scoring_here(
    runs: tuple[TrainResult, TrainResult],
    scheduler: str,
    local_and_cluster: tuple[Settings, Settings],
) -> None:
    settings = local_and_cluster[1]
    uri = settings.mlflow_tracking_uri
    assert uri is not None
    mlflow.set_tracking_uri(uri)
    loaded = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}/{runs[1].model_version}")
    assert type(loaded.unwrap_python_model().risk_model.booster) is lgb.Booster
    here = score(settings, tracking_uri=uri, quiet=True)
    there = score(settings, tracking_uri=uri, quiet=True, scheduler=scheduler)
    assert there.scored == here.scored
    assert there.by_level == here.by_level
    columns = ["alert_id", "warning_level", "probability", "reasons", "red_flags"]
    pd.testing.assert_frame_equal(
        there.alerts[columns].reset_index(drop=True), here.alerts[columns].reset_index(drop=True)
    )
