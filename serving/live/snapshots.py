"""Snapshots written by the running service: on request (``POST /v1/admin/snapshots``) and
on a schedule (``ServiceSettings.snapshot_interval_hours``, 0 = off).

The service is the store's one writer while it runs, so training jobs read these snapshots
instead of the store (``store.snapshot``). The store lock is held only while a second
connection to the database is opened; the copy itself runs in one read transaction on that
connection, beside the requests. One snapshot is written at a time.

Wiring (in the lifespan, after ``open_runtime``, and stopped before ``runtime.close()``)::

    app.state.snapshots = SnapshotWriter.for_runtime(runtime, settings)
    scheduler = SnapshotScheduler(app.state.snapshots, settings.snapshot_interval_hours)
    scheduler.start()
    ...
    scheduler.stop()
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from core.settings import Keyring, Settings
from serving.platform.periodic import Periodic
from serving.platform.shared_store import SharedStore
from serving.runtime import Runtime
from store.snapshot import (
    SnapshotManifest,
    list_snapshots,
    snapshot_root,
    store_cursor,
    write_snapshot_from,
)

logger = logging.getLogger(__name__)


class SnapshotBusyError(RuntimeError):
    """Another snapshot is being written right now."""


class SnapshotWriter:
    """Writes snapshots of the service's store into ``<data_dir>/snapshots``, one at a time,
    keeping the newest ``keep``."""

    def __init__(self, store: SharedStore, keyring: Keyring, root: Path, *, keep: int) -> None:
        self._store = store
        self._keyring = keyring
        self.root = root
        self.keep = keep
        self._writing = threading.Lock()

    @classmethod
    def for_runtime(cls, runtime: Runtime, settings: Settings) -> SnapshotWriter | None:
        """None when the runtime has no open store or no keys (the service is not ready)."""
        if runtime.store is None or runtime.keyring is None:
            return None
        return cls(
            runtime.store,
            runtime.keyring,
            snapshot_root(settings.data_dir),
            keep=settings.snapshot_keep,
        )

    def write(self) -> SnapshotManifest:
        """A new snapshot; ``SnapshotBusyError`` if one is being written."""
        if not self._writing.acquire(blocking=False):
            raise SnapshotBusyError("a snapshot is being written; try again when it is done")
        try:
            with self._store.use() as store:
                cursor = store_cursor(store)
            manifest = write_snapshot_from(cursor, self.root, self._keyring, keep=self.keep)
        finally:
            self._writing.release()
        logger.info(
            "snapshot %s written: %d rows", manifest.path.name, sum(manifest.row_counts.values())
        )
        return manifest

    def snapshots(self) -> list[SnapshotManifest]:
        """The snapshots kept, newest first."""
        return [SnapshotManifest.read(folder) for folder in reversed(list_snapshots(self.root))]


class SnapshotScheduler:
    """Writes a snapshot every ``interval_hours`` (0: never), the first one interval after
    ``start`` (``serving.platform.periodic``). A failed snapshot is logged and the schedule
    goes on."""

    def __init__(self, writer: SnapshotWriter | None, interval_hours: float) -> None:
        self._writer = writer
        every_s = interval_hours * 3600.0 if writer is not None else 0.0
        self._periodic = Periodic("snapshot-scheduler", every_s, self._write)
        self.interval_s = interval_hours * 3600.0

    @property
    def running(self) -> bool:
        return self._periodic.running

    def start(self) -> None:
        self._periodic.start()

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop the schedule; waits (up to ``timeout_s``) for a snapshot being written."""
        self._periodic.stop(timeout_s)

    def _write(self) -> None:
        assert self._writer is not None
        try:
            self._writer.write()
        except SnapshotBusyError:
            logger.info("scheduled snapshot skipped: one is being written")
