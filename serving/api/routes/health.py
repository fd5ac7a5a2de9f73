"""Liveness, readiness and metrics: no credential needed, no data returned."""

from __future__ import annotations

import logging

import duckdb
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from serving.api.schemas.common import Liveness, Readiness, ServiceReadiness
from serving.deps import (
    EsgStateDep,
    LearningStateDep,
    MetricsDep,
    ProcurementStateDep,
    RuntimeDep,
)
from serving.live.swap import ModelBoard
from serving.platform.errors import ApiError, ErrorResponse
from store.queries.health import tables_present

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Liveness)
async def healthz() -> Liveness:
    """The process answers. Says nothing about the store."""
    return Liveness()


@router.get(
    "/readyz",
    response_model=ServiceReadiness,
    responses={503: {"model": ErrorResponse, "description": "not ready, with the reason"}},
)
def readyz(
    request: Request,
    runtime: RuntimeDep,
    procurement: ProcurementStateDep,
    esg: EsgStateDep,
    study: LearningStateDep,
) -> ServiceReadiness:
    """Keys resolved, store open and answering ``SELECT 1``, audit log writable (its journal
    replayed); ``models`` says which version of each model answers and since when (UTC),
    why one is not loaded (a missing model leaves the service ready: only its routes answer
    503), a newer champion that failed to load, and feature settings of the deployment that
    differ from the model's."""
    if runtime.store is None or runtime.audit is None or runtime.revocations is None:
        raise ApiError(503, "not_ready", runtime.not_ready_reason or "store not open")
    try:
        with runtime.store.use() as store:
            readiness = Readiness(tables=tables_present(store.connection))
    except duckdb.Error as error:
        logger.error("readiness check failed: %s", error)
        raise ApiError(503, "not_ready", "the store does not answer") from error
    board: ModelBoard = request.app.state.models
    models = [
        procurement.readiness(),
        procurement.collusion_readiness(),
        esg.readiness(),
        *study.readiness(),
    ]
    return ServiceReadiness(
        **readiness.model_dump(), models=[board.annotate(model) for model in models]
    )


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(service_metrics: MetricsDep) -> Response:
    """Prometheus text format."""
    return Response(generate_latest(service_metrics.registry), media_type=CONTENT_TYPE_LATEST)
