"""Fixtures every test may use: real keys, a real encrypted store, the shared real data.

`make test` runs the suite in parallel (pytest-xdist, one worker process per core): each test
module runs whole on one worker (its module fixtures are built once), the folder
``tests/distributed`` too (one ``LocalCluster``), and the session's small world, installation
and trained champions are built once per run by whichever worker needs them first; every
worker then takes its own copy of the installation's data folder (tests write snapshots and
spool files into it)."""

from __future__ import annotations

import base64
import fcntl
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from core.security import PersonalData
from core.settings import Keyring, Settings
from store.database import Store

if TYPE_CHECKING:
    from features.learning.data import LearningData
    from serving.settings import ServiceSettings

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LODESTAR_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))

WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1", ... under pytest-xdist, else None
GROUPED_FOLDERS = ("tests/distributed/",)  # one worker runs the folder: one package fixture


def group_of(nodeid: str) -> str:
    """The test's module, or its folder when the folder shares a package fixture."""
    path = nodeid.split("::", 1)[0]
    return next((folder for folder in GROUPED_FOLDERS if path.startswith(folder)), path)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """pytest-xdist's scope scheduling with ``group_of`` as the scope: a worker runs a module
    (or a grouped folder) whole, so it builds the module's fixtures once."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return GroupScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist the groups are put in the order the workers take them: first one
    that needs the trained champions (its worker builds the session's world, installation and
    champions), then the groups that need none of them (the other workers run those
    meanwhile), then the rest, larger groups first. The tests of a group keep their order."""
    if WORKER is None:
        return
    groups: dict[str, list[pytest.Item]] = {}
    for item in items:
        groups.setdefault(group_of(item.nodeid), []).append(item)
    items[:] = [item for group in _in_turn(list(groups.values())) for item in group]


def _in_turn(groups: list[list[pytest.Item]]) -> list[list[pytest.Item]]:
    """``groups`` in the order the workers should take them (see above); larger first."""

    def needs(group: list[pytest.Item], fixture: str) -> bool:
        return any(fixture in item.fixturenames for item in group)  # type: ignore[attr-defined]

    by_size = sorted(groups, key=len, reverse=True)
    first = [group for group in by_size if needs(group, "trained_installation")][:1]
    free = [group for group in by_size if not needs(group, "small_world")]
    taken = {id(group) for group in first + free}
    return first + free + [group for group in by_size if id(group) not in taken]


def built_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]
) -> Path:
    """A folder that ``build`` fills once per test run, read only afterwards. Under
    pytest-xdist the first worker to ask builds it in the run's shared temporary folder while
    the others wait for it (a file lock); alone, it is a fresh temporary folder."""
    if WORKER is None:
        root = tmp_path_factory.mktemp(name)
        build(root)
        return root
    shared = tmp_path_factory.getbasetemp().parent / name
    with (shared.parent / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = shared.parent / f"{name}.built"
        if not built.exists():
            shutil.rmtree(shared, ignore_errors=True)  # a worker's failed attempt
            shared.mkdir()
            build(shared)
            built.touch()
    return shared


_MODULE_RUNNING: dict[str, str] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Each module starts, before any of its fixtures (session ones included), with MLflow's
    registry URI unset (it then follows the tracking URI), as in a fresh process:
    ``mlflow.set_registry_uri`` is process-wide (and exported to ``MLFLOW_REGISTRY_URI``), so a
    module that set it would send a later module's ``models:/`` loads and registrations to its
    own registry, whichever worker and order ran them."""
    module = item.nodeid.split("::", 1)[0]
    if _MODULE_RUNNING.get("path") == module:
        return
    _MODULE_RUNNING["path"] = module
    if "mlflow" in sys.modules:
        sys.modules["mlflow"].set_registry_uri(None)
    os.environ.pop("MLFLOW_REGISTRY_URI", None)


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

    def generate(root: Path) -> None:
        generate_world(
            WorldConfig(scale=SMALL_SCALE), root / "world", root / "truth", parallel=False
        )

    root = built_once(tmp_path_factory, "small-world", generate)
    return root / "world", root / "truth"


@pytest.fixture(scope="session")
def small_installation(
    tmp_path_factory: pytest.TempPathFactory, small_world: tuple[Path, Path]
) -> dict[str, str]:
    """A keyed installation with the small world ingested, as LODESTAR_* environment values.
    Under pytest-xdist each worker has its own copy of the data folder and key file."""
    from lodestar.cli import main

    def ingest(root: Path) -> None:
        data_dir = root / "data"
        shutil.copytree(small_world[0], data_dir / "world")
        shutil.copytree(small_world[1], data_dir / "truth")
        options = ["--data-dir", str(data_dir), "--key-file", str(root / "keys.json"), "--quiet"]
        assert main(["keys", "init", *options]) == 0
        assert main(["ingest", *options]) == 0

    root = built_once(tmp_path_factory, "installation", ingest)
    if WORKER is not None:
        own = tmp_path_factory.mktemp("installation")
        shutil.copytree(root / "data", own / "data")
        shutil.copy(root / "keys.json", own / "keys.json")
        root = own
    return {"LODESTAR_DATA_DIR": str(root / "data"), "LODESTAR_KEY_FILE": str(root / "keys.json")}


def installation_settings(installation: dict[str, str]) -> Settings:
    """The settings of an installation given as LODESTAR_* environment values."""
    return Settings(
        data_dir=Path(installation["LODESTAR_DATA_DIR"]),
        key_file=Path(installation["LODESTAR_KEY_FILE"]),
    )


@pytest.fixture
def small_store(small_installation: dict[str, str]) -> Iterator[Store]:
    """The small installation's store, read-only."""
    settings = installation_settings(small_installation)
    with Store.open(settings, settings.keyring(), read_only=True) as opened:
        yield opened


@pytest.fixture(scope="session")
def trained_installation(
    small_installation: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> ServiceSettings:
    """The small installation with its own store and SQLite registry, and every champion
    trained on it once (``tests.champions``' small, fast options): procurement risk (its
    warnings written to ``alerts``), supplier ESG, mastery and recommender, each version 1.
    Read only: a module takes its own copy with ``tests.champions.copy_installation``.
    Under pytest-xdist one worker trains them and every worker reads them over its own data
    folder (the same world and keys)."""
    from tests.champions import (
        STORE,
        copy_store,
        installation_at,
        train_and_score_risk,
        train_esg_and_study,
    )

    def train(root: Path) -> None:
        settings = installation_at(small_installation, root)
        copy_store(Path(small_installation["LODESTAR_DATA_DIR"]) / STORE, root / STORE)
        train_and_score_risk(settings)
        train_esg_and_study(settings)

    return installation_at(small_installation, built_once(tmp_path_factory, "trained", train))


@pytest.fixture(scope="module")
def small_learning_data(small_installation: dict[str, str]) -> Iterator[LearningData]:
    """The small installation's learning data, read once per module from its store (held
    open, read-only, while the module runs)."""
    from features.learning.data import LearningData

    settings = installation_settings(small_installation)
    with Store.open(settings, settings.keyring(), read_only=True) as store:
        yield LearningData.from_store(store)
