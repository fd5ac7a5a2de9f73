"""The session's trained installations: the small installation with champions trained once by
the real training code, and private copies of them for the modules that use them.

Training is what the service tests pay for; it is done once per session into a read-only
source (store, SQLite registry, artefacts), and each module that writes (every app writes its
audit log) gets a copy of the three: a DuckDB file allows one writing process, and a copied
registry lets a module add, swap or break versions without touching another module's.
"""

from __future__ import annotations

import shutil
import sqlite3
from datetime import date, datetime
from pathlib import Path

from serving.settings import RateLimits, ServiceSettings
from training import mastery, procurement_risk, recommender, supplier_esg

# The small world's confirmed findings are all decided March–August: split before them.
RISK_OPTIONS = procurement_risk.TrainingOptions(
    train_end=date(2025, 6, 1),
    calibration_end=date(2025, 7, 1),
    n_estimators=40,
    num_leaves=7,
    min_data_in_leaf=5,
    num_threads=1,
)
ESG_OPTIONS = supplier_esg.TrainingOptions(
    n_estimators=40, num_leaves=7, min_data_in_leaf=5, num_threads=1
)
MASTERY_OPTIONS = mastery.TrainingOptions(n_estimators=40)
RECOMMENDER_OPTIONS = recommender.RecommenderOptions(
    cut=datetime(2025, 12, 1), n_estimators=20, sim_weeks=0
)

STORE = "lodestar.duckdb"
REGISTRY = "mlflow.db"
ARTEFACTS = "mlartifacts"  # training.tracking.artifact_location: beside the .db


def installation_at(small_installation: dict[str, str], root: Path) -> ServiceSettings:
    """Settings over the small installation's world and keys with the store, the SQLite
    registry and its artefacts under ``root`` (the store is not created here)."""
    return ServiceSettings(
        environment="test",
        data_dir=Path(small_installation["LODESTAR_DATA_DIR"]),
        store_path=root / STORE,
        key_file=Path(small_installation["LODESTAR_KEY_FILE"]),
        mlflow_tracking_uri=f"sqlite:///{root / REGISTRY}",
        rate_limits=RateLimits(enabled=False),  # the functional tests call faster than people
    )


def root_of(settings: ServiceSettings) -> Path:
    """The folder holding ``settings``' store, registry and artefacts."""
    assert settings.store_path is not None
    return settings.store_path.parent


def copy_store(source: Path, target: Path) -> None:
    """A copy of the store file at ``source`` (with its write-ahead log, if any)."""
    shutil.copy(source, target)
    if Path(f"{source}.wal").exists():
        shutil.copy(f"{source}.wal", f"{target}.wal")


def repoint_registry(database: Path, old_root: Path, new_root: Path) -> int:
    """Replace ``old_root`` by ``new_root`` in every text value of the SQLite registry at
    ``database`` (experiments, runs, logged models and model versions hold absolute artefact
    locations); the number of values changed. Fails if any value still names ``old_root``."""
    old, new = str(old_root.resolve()), str(new_root.resolve())
    changed = 0
    with sqlite3.connect(database) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        for table in tables:
            columns = [row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')]
            for column in columns:
                changed += connection.execute(
                    f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                    f'WHERE typeof("{column}") = \'text\' AND instr("{column}", ?) > 0',
                    [old, new, old],
                ).rowcount
        for table in tables:
            columns = [row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')]
            for column in columns:
                [left] = connection.execute(
                    f'SELECT count(*) FROM "{table}" WHERE typeof("{column}") = \'text\' '
                    f'AND instr("{column}", ?) > 0',
                    [old],
                ).fetchone()
                assert left == 0, f"{table}.{column} still names {old}"
    return changed


def copy_installation(source: ServiceSettings, root: Path) -> ServiceSettings:
    """A private copy of ``source`` (built by ``installation_at``) under ``root``: its store,
    its registry repointed at its own copy of the artefacts. The world and keys are shared
    (read only)."""
    old_root = root_of(source)
    assert source.store_path is not None
    copy_store(source.store_path, root / STORE)
    if (old_root / REGISTRY).exists():
        shutil.copy(old_root / REGISTRY, root / REGISTRY)
        repoint_registry(root / REGISTRY, old_root, root)
    if (old_root / ARTEFACTS).exists():
        shutil.copytree(old_root / ARTEFACTS, root / ARTEFACTS)
    return source.model_copy(
        update={"store_path": root / STORE, "mlflow_tracking_uri": f"sqlite:///{root / REGISTRY}"}
    )


def train_esg_and_study(settings: ServiceSettings) -> None:
    """Train and promote the supplier ESG, mastery and recommender champions."""
    uri = settings.resolved_mlflow_tracking_uri
    assert supplier_esg.train(settings, ESG_OPTIONS, tracking_uri=uri, quiet=True).gate.promoted
    assert mastery.train(settings, MASTERY_OPTIONS, tracking_uri=uri, quiet=True).gate.promoted
    assert recommender.train(
        settings, RECOMMENDER_OPTIONS, tracking_uri=uri, quiet=True
    ).gate.promoted


def train_and_score_risk(settings: ServiceSettings) -> None:
    """Train and promote the procurement risk champion and write its warnings to ``alerts``."""
    uri = settings.resolved_mlflow_tracking_uri
    trained = procurement_risk.train(settings, RISK_OPTIONS, tracking_uri=uri, quiet=True)
    assert trained.gate.promoted
    scored = procurement_risk.score(settings, tracking_uri=uri, store_write=True, quiet=True)
    assert scored.written is not None
    assert scored.written > 10
