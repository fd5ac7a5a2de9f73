"""Where a training job's data comes from: a snapshot of the store, never the live store.

``--snapshot PATH`` names one; without it a job reads the newest under
``<data_dir>/snapshots``, and when there is none it writes one from the store first (which
needs the store free: the service, when running, holds it and writes snapshots itself).
"""

from __future__ import annotations

import sys
from pathlib import Path

from core.settings import Settings
from store.database import Store, StoreError
from store.snapshot import (
    Snapshot,
    SnapshotError,
    latest_snapshot,
    open_snapshot,
    snapshot_root,
    write_snapshot,
)


def open_training_snapshot(
    settings: Settings, snapshot: Path | None = None, *, quiet: bool = False
) -> Snapshot:
    """The snapshot a job trains on (see the module docstring), opened read-only; says on
    stderr which one it is, and when it had to write one."""
    keyring = settings.keyring()
    chosen = Path(snapshot) if snapshot is not None else latest_snapshot(settings.data_dir)
    if chosen is None:
        chosen = snapshot_from_store(settings)
        print(
            f"no snapshot under {snapshot_root(settings.data_dir)}: wrote {chosen}", file=sys.stderr
        )
    opened = open_snapshot(chosen, keyring)
    if not quiet:
        print(
            f"training data: snapshot {opened.path} ({opened.manifest.created_at}, "
            f"data version {opened.manifest.data_version[:12]})",
            file=sys.stderr,
        )
    return opened


def snapshot_from_store(settings: Settings) -> Path:
    """Write a snapshot of the store (opened read-only); returns its folder."""
    keyring = settings.keyring()
    try:
        with Store.open(settings, keyring, read_only=True) as store:
            manifest = write_snapshot(
                store, snapshot_root(settings.data_dir), keyring, keep=settings.snapshot_keep
            )
    except StoreError as error:
        raise SnapshotError(
            f"no snapshot to train on, and none can be written from the store: {error}. "
            "With the service running, ask it for one (POST /v1/admin/snapshots) or pass "
            "--snapshot PATH"
        ) from error
    return manifest.path
