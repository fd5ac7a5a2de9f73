"""The API tests' installations: the session's small demo installation with a store of their
own (DuckDB allows one writing process per file, and the tests write), and a server on it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from serving.settings import RateLimits, ServiceSettings
from tests.champions import copy_store
from tests.serving.real_server import running_server, server_environment


def own_installation(small_installation: dict[str, str], root: Path) -> ServiceSettings:
    """Settings over the small installation's world and keys, with a copy of its store and an
    empty tracking store, both under ``root``."""
    data_dir = Path(small_installation["LODESTAR_DATA_DIR"])
    copy_store(data_dir / "lodestar.duckdb", root / "lodestar.duckdb")
    return ServiceSettings(
        environment="test",
        data_dir=data_dir,
        store_path=root / "lodestar.duckdb",
        key_file=Path(small_installation["LODESTAR_KEY_FILE"]),
        mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        rate_limits=RateLimits(enabled=False),  # the functional tests call faster than people
    )


@contextmanager
def served(
    installation: ServiceSettings,
    small_installation: dict[str, str],
    root: Path,
    *,
    startup_seconds: float,
) -> Iterator[str]:
    """``python -m serving run`` on ``installation``'s registry and a fresh copy of the small
    installation's store (the test's own app holds ``installation``'s copy open); its base
    URL."""
    store = root / "lodestar.duckdb"
    copy_store(Path(small_installation["LODESTAR_DATA_DIR"]) / "lodestar.duckdb", store)
    env = server_environment(
        installation,
        LODESTAR_STORE_PATH=str(store),
        LODESTAR_MLFLOW_TRACKING_URI=installation.resolved_mlflow_tracking_uri,
    )
    with running_server(env, root / "server.log", startup_seconds=startup_seconds) as (url, _):
        yield url


def store_of(client: TestClient) -> Any:
    """The app's store, locked for the caller (a context manager)."""
    return client.app.state.runtime.store.use()  # type: ignore[attr-defined]
