"""Fixtures every test may use: real keys, a real encrypted store, the shared real data."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from core.security import PersonalData
from core.settings import Keyring, Settings
from store.database import Store

if TYPE_CHECKING:
    from serving.settings import ServiceSettings

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LODESTAR_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real public data; read it, never copy it)."""
    if not SHARED_DATA.exists():
        pytest.fail(f"shared data not found at {SHARED_DATA} (set LODESTAR_SHARED_DATA)")
    return SHARED_DATA


def make_keyring() -> Keyring:
    return Keyring(
        pseudonym_key=os.urandom(32),
        field_keys={"k1": os.urandom(32)},
        active_field_key_id="k1",
        store_key=base64.b64encode(os.urandom(32)).decode(),
        token_signing_key=os.urandom(32),
    )


@pytest.fixture
def keyring() -> Keyring:
    return make_keyring()


@pytest.fixture
def personal(keyring: Keyring) -> PersonalData:
    return PersonalData(keyring)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(environment="test", data_dir=tmp_path / "data", key_file=tmp_path / "keys.json")


@pytest.fixture
def store(tmp_path: Path, keyring: Keyring) -> Iterator[Store]:
    """A real, encrypted DuckDB store in a temporary folder."""
    opened = Store(tmp_path / "store.duckdb", encryption_key=keyring.store_key)
    yield opened
    opened.close()


SMALL_SCALE = 0.05


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small demo world (scale 0.05), generated once per test session: (world, truth)."""
    from world.config import WorldConfig
    from world.generate import generate_world

    root = tmp_path_factory.mktemp("small-world")
    world_dir, truth_dir = root / "world", root / "truth"
    generate_world(WorldConfig(scale=SMALL_SCALE), world_dir, truth_dir, parallel=False)
    return world_dir, truth_dir


@pytest.fixture(scope="session")
def small_installation(
    tmp_path_factory: pytest.TempPathFactory, small_world: tuple[Path, Path]
) -> dict[str, str]:
    """A keyed installation with the small world ingested, as LODESTAR_* environment values."""
    import shutil

    from lodestar.cli import main

    root = tmp_path_factory.mktemp("installation")
    data_dir = root / "data"
    shutil.copytree(small_world[0], data_dir / "world")
    shutil.copytree(small_world[1], data_dir / "truth")
    options = ["--data-dir", str(data_dir), "--key-file", str(root / "keys.json"), "--quiet"]
    assert main(["keys", "init", *options]) == 0
    assert main(["ingest", *options]) == 0
    return {"LODESTAR_DATA_DIR": str(data_dir), "LODESTAR_KEY_FILE": str(root / "keys.json")}


@pytest.fixture
def small_store(small_installation: dict[str, str]) -> Iterator[Store]:
    """The small installation's store, read-only."""
    settings = Settings(
        data_dir=Path(small_installation["LODESTAR_DATA_DIR"]),
        key_file=Path(small_installation["LODESTAR_KEY_FILE"]),
    )
    with Store.open(settings, settings.keyring(), read_only=True) as opened:
        yield opened


@pytest.fixture(scope="session")
def trained_installation(
    small_installation: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> ServiceSettings:
    """The small installation with its own store and SQLite registry, and every champion
    trained on it once (``tests.champions``' small, fast options): procurement risk (its
    warnings written to ``alerts``), supplier ESG, mastery and recommender, each version 1.
    Read only: a module takes its own copy with ``tests.champions.copy_installation``."""
    from tests.champions import (
        STORE,
        copy_store,
        installation_at,
        train_and_score_risk,
        train_esg_and_study,
    )

    settings = installation_at(small_installation, tmp_path_factory.mktemp("trained"))
    assert settings.store_path is not None
    copy_store(Path(small_installation["LODESTAR_DATA_DIR"]) / STORE, settings.store_path)
    train_and_score_risk(settings)
    train_esg_and_study(settings)
    return settings
