"""Dependencies of the routes, as module-level ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from features.security import PersonalData
from serving.auth import Principal, authenticate, require_roles
from serving.errors import ApiError
from serving.metrics import ServiceMetrics
from serving.runtime import Runtime, SharedStore


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_metrics(request: Request) -> ServiceMetrics:
    metrics: ServiceMetrics = request.app.state.metrics
    return metrics


async def get_store(runtime: Annotated[Runtime, Depends(get_runtime)]) -> SharedStore:
    if runtime.store is None:
        raise ApiError(503, "service_unavailable", runtime.not_ready_reason or "store not open")
    return runtime.store


async def get_personal(runtime: Annotated[Runtime, Depends(get_runtime)]) -> PersonalData:
    if runtime.personal is None:
        raise ApiError(503, "service_unavailable", runtime.not_ready_reason or "keys unavailable")
    return runtime.personal


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]
StoreDep = Annotated[SharedStore, Depends(get_store)]
PersonalDep = Annotated[PersonalData, Depends(get_personal)]

CallerDep = Annotated[Principal, Depends(authenticate)]
AdminDep = Annotated[Principal, Depends(require_roles("admin"))]
SummaryReaderDep = Annotated[
    Principal,
    Depends(require_roles("admin", "auditor", "procurement_manager", "esg_analyst")),
]
MemberRecordReaderDep = Annotated[Principal, Depends(require_roles("member", "admin"))]
