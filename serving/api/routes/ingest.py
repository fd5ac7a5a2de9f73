"""Files pushed by the platform while the service runs (``integration`` and ``admin``)."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Path, Query, Request

from ingest.run import READERS
from serving.api.schemas.ingest import IngestOut, IngestRunList, IngestRunOut
from serving.deps import PersonalDep, StoreDep
from serving.live.ingest import (
    EmptyBodyError,
    ingest_spooled,
    remove_spool,
    safe_file_name,
    spool_body,
    spool_root,
)
from serving.platform.auth import Principal, require_roles
from serving.platform.errors import ApiError, documented
from store.queries.ingest_runs import latest_runs, run_by_id

router = APIRouter(tags=["ingest"])

INGEST_PATH_PREFIX = "/v1/ingest/"
# Media types a pushed file may be declared as (no Content-Type counts as octet-stream).
FILE_MEDIA_TYPES = frozenset(
    {
        "application/octet-stream",
        "application/json",
        "application/x-ndjson",
        "application/jsonl",
        "application/gzip",
        "text/csv",
        "text/plain",
    }
)

IngesterDep = Annotated[Principal, Depends(require_roles("integration", "admin"))]
Kind = Annotated[str, Path(max_length=64, description=f"one of {', '.join(READERS)}")]


def _check_media_type(request: Request) -> None:
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media and media not in FILE_MEDIA_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the file's bytes as one of {', '.join(sorted(FILE_MEDIA_TYPES))}",
        )


@router.post(
    "/ingest/{kind}",
    response_model=IngestOut,
    responses=documented(
        404,
        415,
        _404="no reader for this kind",
        _415="the body is not a file (multipart and form bodies are refused)",
        _422="the body is empty, or a parameter is invalid",
    ),
)
async def ingest(
    kind: Kind,
    request: Request,
    _caller: IngesterDep,
    store: StoreDep,
    personal: PersonalDep,
    filename: Annotated[
        str | None, Query(max_length=255, description="the source file's name (kept as lineage)")
    ] = None,
) -> IngestOut:
    """Store a file (the raw bytes as the body, streamed to disk) with the reader for
    ``kind``, as ``lodestar ingest`` does: the same quarantine, ``records_in == accepted +
    quarantined``, nothing stored twice; the new rows are pushed to the live state (new and
    changed processes scored, warnings written). The reader runs beside the requests."""
    if kind not in READERS:
        raise ApiError(404, "unknown_kind", f"no reader {kind!r}; known: {', '.join(READERS)}")
    _check_media_type(request)
    root = await anyio.to_thread.run_sync(spool_root, request.app.state.settings.data_dir)
    try:
        path = await spool_body(request.stream(), root, safe_file_name(filename, kind))
    except EmptyBodyError as error:
        raise ApiError(422, "empty_body", str(error)) from None
    try:
        run = await anyio.to_thread.run_sync(
            lambda: ingest_spooled(store, personal, kind, path, app_state=request.app.state)
        )
    finally:
        await anyio.to_thread.run_sync(remove_spool, path)
    return IngestOut.of(run)


@router.get("/ingest/runs", response_model=IngestRunList)
def ingest_runs(
    _caller: IngesterDep,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    kind: Annotated[str | None, Query(max_length=64)] = None,
) -> IngestRunList:
    """The latest ingest runs, newest first (the service's and the command line's)."""
    with store.use() as opened:
        rows = latest_runs(opened.connection, limit=limit, kind=kind)
    return IngestRunList(runs=[IngestRunOut(**row) for row in rows])


@router.get(
    "/ingest/runs/{run_id}",
    response_model=IngestRunOut,
    responses=documented(404, _404="no such run"),
)
def ingest_run(
    run_id: Annotated[str, Path(max_length=64)], _caller: IngesterDep, store: StoreDep
) -> IngestRunOut:
    """One ingest run by the ``run_id`` its answer gave."""
    with store.use() as opened:
        row = run_by_id(opened.connection, run_id)
    if row is None:
        raise ApiError(404, "not_found", "no such ingest run")
    return IngestRunOut(**row)
