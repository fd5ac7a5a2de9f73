"""Procurement risk: score releases with their reasons; read and review the warnings.

Auditors and procurement managers read; only auditors review. Scoring routes are plain
``def`` (CPU-bound, run in the threadpool) and answer 503 ``model_unavailable`` while no
champion is loaded; the alert routes read the store and work without a model.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response

from features.procurement.build import ReleaseError
from serving.api.schemas.common import model_response
from serving.api.schemas.procurement import (
    ALERT_ID_PATTERN,
    RELEASE_EXAMPLE,
    AlertDetail,
    AlertPage,
    AlertQuery,
    ReviewRequest,
    RiskAssessmentOut,
    RiskBatchItem,
    RiskBatchRequest,
    RiskBatchResponse,
)
from serving.deps import (
    AlertReviewerDep,
    JsonBodyDep,
    PersonalDep,
    ProcurementReaderDep,
    ProcurementRiskDep,
    StoreDep,
)
from serving.jobs import procurement, procurement_alerts
from serving.platform.errors import ApiError, documented

router = APIRouter(prefix="/procurement", tags=["procurement"])

_SCORING = documented(400, 415, 503, _503="not ready, or no champion model is loaded")
_NOT_FOUND = documented(404, _404="no such alert")
AlertId = Annotated[str, Path(pattern=ALERT_ID_PATTERN, description="sha256 hex")]


@router.post("/risk", response_model=RiskAssessmentOut, responses=_SCORING)
def assess_risk(
    _caller: ProcurementReaderDep,
    _json: JsonBodyDep,
    risk: ProcurementRiskDep,
    release: Annotated[
        dict[str, Any],
        Body(
            description="one OCDS compiled release; the history comes from the store",
            openapi_examples={"release": {"value": RELEASE_EXAMPLE}},
        ),
    ],
) -> Response:
    """Probability, warning level, red flags and the top five reasons of one process, as of
    its decision date. An invalid release is a 422 whose ``loc`` is the JSON path of the
    problem (a lone surrogate in any string, or a date outside the years 1900-2100, among
    them); a supplier missing from the register is scored, without history features
    (``supplier_known`` false). Dates with an offset are instants; without one, UTC."""
    try:
        assessment = procurement.assess_release(risk, release)
    except ReleaseError as error:
        raise procurement.invalid_release(error) from None
    return model_response(assessment)


@router.post("/risk/batch", response_model=RiskBatchResponse, responses=_SCORING)
def assess_risk_batch(
    _caller: ProcurementReaderDep,
    _json: JsonBodyDep,
    risk: ProcurementRiskDep,
    body: RiskBatchRequest,
) -> RiskBatchResponse:
    """Up to 500 releases (``MAX_BATCH_RELEASES``): one item per release, in order, each with its
    assessment or its own error; one bad release does not fail the others."""
    answers = procurement.assess_releases(risk, body.releases)
    items = [
        RiskBatchItem(index=i, result=answer)
        if isinstance(answer, RiskAssessmentOut)
        else RiskBatchItem(index=i, error=procurement.item_error(answer, i))
        for i, answer in enumerate(answers)
    ]
    failed = sum(item.error is not None for item in items)
    return RiskBatchResponse(
        items=items, scored=len(items) - failed, failed=failed, model=risk.model_ref
    )


@router.get("/alerts", response_model=AlertPage)
def alerts(
    _caller: ProcurementReaderDep, store: StoreDep, query: Annotated[AlertQuery, Query()]
) -> AlertPage:
    """Warnings written by batch scoring, filtered, highest probability first."""
    with store.use() as opened:
        return procurement_alerts.list_alerts(opened, query)


@router.get("/alerts/{alert_id}", response_model=AlertDetail, responses=_NOT_FOUND)
def alert(
    caller: ProcurementReaderDep, alert_id: AlertId, store: StoreDep, personal: PersonalDep
) -> AlertDetail:
    """One warning with its red flags, reasons and review history (reviewers as pseudonyms;
    comments shown to auditors only)."""
    with store.use() as opened:
        found = procurement_alerts.get_alert(
            opened, personal, alert_id, reveal_comments=caller.role == "auditor"
        )
    if found is None:
        raise ApiError(404, "not_found", "no such alert")
    return found


@router.post(
    "/alerts/{alert_id}/review",
    response_model=AlertDetail,
    responses={**_NOT_FOUND, **documented(400, 415)},
)
def review(
    caller: AlertReviewerDep,
    _json: JsonBodyDep,
    alert_id: AlertId,
    body: ReviewRequest,
    store: StoreDep,
    personal: PersonalDep,
) -> AlertDetail:
    """An auditor's verdict: stored as a review and as an audit outcome (the next training
    run learns from it), and set as the alert's status. Returns the alert with its history."""
    with store.use() as opened:
        reviewed = procurement_alerts.review_alert(
            opened, personal, alert_id, reviewer=caller.subject, review=body
        )
    if reviewed is None:
        raise ApiError(404, "not_found", "no such alert")
    return reviewed
