"""Dependencies of the routes, as module-level ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from core.security import PersonalData
from serving.jobs.esg import EsgState, SupplierEsg
from serving.jobs.learning import LearningState
from serving.jobs.learning_study import Study
from serving.jobs.procurement import ProcurementRisk, ProcurementState
from serving.platform.audit_writer import AuditWriter
from serving.platform.auth import Principal, authenticate, require_roles
from serving.platform.errors import ApiError
from serving.platform.metrics import ServiceMetrics
from serving.platform.revocations import Revocations
from serving.platform.shared_store import SharedStore
from serving.runtime import Runtime


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


async def get_audit_writer(runtime: Annotated[Runtime, Depends(get_runtime)]) -> AuditWriter:
    if runtime.audit is None:
        raise ApiError(503, "service_unavailable", runtime.not_ready_reason or "audit log closed")
    return runtime.audit


async def get_revocations(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Revocations:
    if runtime.revocations is None:
        raise ApiError(503, "service_unavailable", runtime.not_ready_reason or "store not open")
    return runtime.revocations


async def get_procurement_state(request: Request) -> ProcurementState:
    state: ProcurementState = request.app.state.procurement
    return state


async def get_procurement_risk(
    state: Annotated[ProcurementState, Depends(get_procurement_state)],
) -> ProcurementRisk:
    if state.risk is None:
        raise ApiError(503, "model_unavailable", state.unavailable_reason or "model not loaded")
    return state.risk


async def get_esg_state(request: Request) -> EsgState:
    state: EsgState = request.app.state.esg
    return state


async def get_supplier_esg(state: Annotated[EsgState, Depends(get_esg_state)]) -> SupplierEsg:
    if state.esg is None:
        raise ApiError(503, "model_unavailable", state.unavailable_reason or "model not loaded")
    return state.esg


async def get_learning_state(request: Request) -> LearningState:
    state: LearningState = request.app.state.learning
    return state


async def get_study(state: Annotated[LearningState, Depends(get_learning_state)]) -> Study:
    if state.study is None:
        raise ApiError(503, "model_unavailable", state.unavailable_reason or "model not loaded")
    return state.study


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]
StoreDep = Annotated[SharedStore, Depends(get_store)]
PersonalDep = Annotated[PersonalData, Depends(get_personal)]
AuditWriterDep = Annotated[AuditWriter, Depends(get_audit_writer)]
RevocationsDep = Annotated[Revocations, Depends(get_revocations)]

CallerDep = Annotated[Principal, Depends(authenticate)]
AdminDep = Annotated[Principal, Depends(require_roles("admin"))]
AuditLogReaderDep = Annotated[Principal, Depends(require_roles("security_auditor"))]
RevocationReaderDep = Annotated[Principal, Depends(require_roles("admin", "security_auditor"))]
SummaryReaderDep = Annotated[
    Principal,
    Depends(require_roles("admin", "auditor", "procurement_manager", "esg_analyst")),
]
MemberRecordReaderDep = Annotated[Principal, Depends(require_roles("member", "admin"))]

ProcurementStateDep = Annotated[ProcurementState, Depends(get_procurement_state)]
ProcurementRiskDep = Annotated[ProcurementRisk, Depends(get_procurement_risk)]
ProcurementReaderDep = Annotated[
    Principal, Depends(require_roles("auditor", "procurement_manager"))
]
AlertReviewerDep = Annotated[Principal, Depends(require_roles("auditor"))]

EsgStateDep = Annotated[EsgState, Depends(get_esg_state)]
SupplierEsgDep = Annotated[SupplierEsg, Depends(get_supplier_esg)]
EsgReaderDep = Annotated[Principal, Depends(require_roles("esg_analyst", "procurement_manager"))]

LearningStateDep = Annotated[LearningState, Depends(get_learning_state)]
StudyDep = Annotated[Study, Depends(get_study)]
PartyOfficerDep = Annotated[Principal, Depends(require_roles("party_officer"))]
XapiPosterDep = Annotated[Principal, Depends(require_roles("member", "admin"))]


def _is_json(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def require_json_body(request: Request) -> None:
    """415 ``unsupported_media_type`` for a body not declared as JSON (no Content-Type
    counts as not JSON); a request without a body passes (the body's own rules apply)."""
    has_body = request.headers.get("content-length", "0") not in ("", "0") or (
        "transfer-encoding" in request.headers
    )
    if has_body and not _is_json(request.headers.get("content-type", "")):
        raise ApiError(
            415, "unsupported_media_type", "the body must be JSON (Content-Type: application/json)"
        )


JsonBodyDep = Annotated[None, Depends(require_json_body)]
