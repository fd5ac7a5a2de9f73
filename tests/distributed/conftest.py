"""What the cluster tests share: one two-worker ``LocalCluster`` and two private copies of the
small installation (one trained on this machine, one on the cluster), for the tests of this
folder (the workers stop after them)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.settings import Settings
from tests.training.installations import private_installation


@pytest.fixture(scope="package")
def scheduler() -> Iterator[str]:
    """The address of a scheduler with two one-thread worker processes on 127.0.0.1."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="package")
def local_and_cluster(
    small_installation: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Settings, Settings]:
    """Two private installations (own store copy, own MLflow): one machine, and cluster."""
    return (
        private_installation(small_installation, tmp_path_factory.mktemp("one-machine")),
        private_installation(small_installation, tmp_path_factory.mktemp("cluster")),
    )
