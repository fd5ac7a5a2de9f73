"""Liveness, readiness and metrics: no credential needed, no data returned."""

from __future__ import annotations

import logging

import duckdb
from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from serving import queries
from serving.deps import (
    EsgStateDep,
    LearningStateDep,
    MetricsDep,
    ProcurementStateDep,
    RuntimeDep,
)
from serving.errors import ApiError, ErrorResponse
from serving.procurement_schemas import ServiceReadiness
from serving.schemas import Liveness

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
    runtime: RuntimeDep,
    procurement: ProcurementStateDep,
    esg: EsgStateDep,
    study: LearningStateDep,
) -> ServiceReadiness:
    """Keys resolved, store open and answering ``SELECT 1``, audit log writable (its journal
    replayed); ``models`` says which models
    are loaded and why one is not (a missing model leaves the service ready: only its
    routes answer 503)."""
    if runtime.store is None or runtime.audit is None or runtime.revocations is None:
        raise ApiError(503, "not_ready", runtime.not_ready_reason or "store not open")
    try:
        with runtime.store.use() as store:
            readiness = queries.readiness(store)
    except duckdb.Error as error:
        logger.error("readiness check failed: %s", error)
        raise ApiError(503, "not_ready", "the store does not answer") from error
    return ServiceReadiness(
        **readiness.model_dump(),
        models=[procurement.readiness(), esg.readiness(), *study.readiness()],
    )


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(service_metrics: MetricsDep) -> Response:
    """Prometheus text format."""
    return Response(generate_latest(service_metrics.registry), media_type=CONTENT_TYPE_LATEST)
