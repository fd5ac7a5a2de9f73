"""The benchmarks' server helpers against a real ``python -m serving run``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.server import environment, get, models_loaded, our_server, run
from core.settings import Settings, init_key_file
from store.database import Store


@pytest.fixture
def installation(tmp_path: Path) -> Path:
    """An installation with keys and an empty store, and no model registered."""
    init_key_file(tmp_path / "keys.json")
    settings = Settings(data_dir=tmp_path, key_file=tmp_path / "keys.json")
    Store.open(settings, settings.keyring()).close()
    return tmp_path


def test_our_server_runs_until_the_block_ends(installation: Path) -> None:
    env = environment(installation, LODESTAR_ENVIRONMENT="test")
    with our_server(env, installation / "server.log", [], startup_seconds=90) as port:
        assert get(port, "/healthz") is not None
        assert models_loaded(port, [])
        assert not models_loaded(port, ["procurement-risk"])  # ready, but no champion
    assert get(port, "/healthz") is None  # stopped


def test_waiting_for_a_model_that_never_loads_gives_up(installation: Path) -> None:
    env = environment(installation, LODESTAR_ENVIRONMENT="test")
    with (
        pytest.raises(SystemExit, match="not ready in 2 s"),
        our_server(
            env, installation / "server.log", ["no-such-model"], startup_seconds=90, ready_seconds=2
        ),
    ):
        pass


def test_a_failing_setup_command_stops_the_benchmark() -> None:
    with pytest.raises(SystemExit, match="it broke"):
        run([sys.executable, "-c", "import sys; sys.exit('it broke')"])
