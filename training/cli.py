"""What every training command line shares: the installation it works on."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from features.settings import Settings
from training.tracking import TRACKING_URI_ENV


def installation_arguments() -> argparse.ArgumentParser:
    """A parent parser: ``--data-dir``, ``--key-file``, ``--tracking-uri``, ``--quiet``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, help="data folder ($LODESTAR_DATA_DIR)")
    common.add_argument("--key-file", type=Path, help="key file ($LODESTAR_KEY_FILE)")
    common.add_argument(
        "--tracking-uri", help=f"MLflow tracking URI (${TRACKING_URI_ENV}, else SQLite in data)"
    )
    common.add_argument("--quiet", action="store_true", help="no progress bars")
    return common


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from the environment, with ``--data-dir`` and ``--key-file`` on top."""
    overrides: dict[str, Any] = {}
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    if args.key_file:
        overrides["key_file"] = args.key_file
    return Settings(**overrides)
