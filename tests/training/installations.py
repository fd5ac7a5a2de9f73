"""A private copy of the small installation for tests that write to the store or registry."""

from __future__ import annotations

import shutil
from pathlib import Path

from core.settings import Settings


def private_installation(small_installation: dict[str, str], root: Path) -> Settings:
    """The small installation with its own copy of the store under ``root`` (scoring writes
    alerts) and its own MLflow SQLite store there."""
    data_dir = Path(small_installation["LODESTAR_DATA_DIR"])
    source = data_dir / "lodestar.duckdb"
    shutil.copy(source, root / "lodestar.duckdb")
    if Path(f"{source}.wal").exists():
        shutil.copy(f"{source}.wal", root / "lodestar.duckdb.wal")
    return Settings(
        environment="test",
        data_dir=data_dir,
        store_path=root / "lodestar.duckdb",
        key_file=Path(small_installation["LODESTAR_KEY_FILE"]),
        mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
    )
