"""Store snapshots for training, for the admin: write one now, list those kept."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from serving.api.schemas.snapshot import SnapshotList, SnapshotOut
from serving.deps import AdminDep, RuntimeDep
from serving.live.snapshots import SnapshotBusyError, SnapshotWriter
from serving.platform.errors import ApiError

router = APIRouter(tags=["admin"])

_CREATING = threading.Lock()


def get_snapshot_writer(request: Request, runtime: RuntimeDep) -> SnapshotWriter:
    """``app.state.snapshots``, created on first use when the lifespan did not set it."""
    with _CREATING:
        writer: SnapshotWriter | None = getattr(request.app.state, "snapshots", None)
        if writer is None:
            writer = SnapshotWriter.for_runtime(runtime, request.app.state.settings)
            if writer is None:
                raise ApiError(
                    503, "service_unavailable", runtime.not_ready_reason or "store not open"
                )
            request.app.state.snapshots = writer
    return writer


SnapshotWriterDep = Annotated[SnapshotWriter, Depends(get_snapshot_writer)]


@router.post("/admin/snapshots", response_model=SnapshotOut, status_code=201)
def create_snapshot(_caller: AdminDep, writer: SnapshotWriterDep) -> SnapshotOut:
    """Write a consistent, encrypted snapshot of every table now (requests go on meanwhile);
    409 while another is being written."""
    try:
        return SnapshotOut.of(writer.write())
    except SnapshotBusyError as error:
        raise ApiError(409, "snapshot_in_progress", str(error)) from None


@router.get("/admin/snapshots", response_model=SnapshotList)
def snapshot_list(_caller: AdminDep, writer: SnapshotWriterDep) -> SnapshotList:
    """The snapshots kept, newest first."""
    return SnapshotList(snapshots=[SnapshotOut.of(manifest) for manifest in writer.snapshots()])
