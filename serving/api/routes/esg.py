"""Supplier ESG: a supplier's screen, a tender's bidders ranked, the GRI 308/414 figures.

ESG analysts and procurement managers read; every call (allowed or not) is written to the
audit log by the middleware, the auth dependency marking it. Routes are plain ``def``
(CPU-bound screening runs in the threadpool) and serialise their answer there
(``model_response``; each keeps its ``response_model`` for the OpenAPI schema); the store is
held only to read the tender's bids or the period's records, not while the model scores. No
champion: 503 ``model_unavailable``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from fastapi.exceptions import RequestValidationError

from models.esg.ranking import NoBidsError, TenderNotFoundError, tender_bids
from models.esg.reporting import period_records
from serving.api.schemas.common import (
    BUSINESS_DATE_NOTE,
    BoundedDate,
    Text,
    business_today,
    model_response,
)
from serving.api.schemas.esg import (
    MAX_ID_CHARS,
    GriReportOut,
    RankingRequest,
    SupplierEsgOut,
    TenderRankingOut,
)
from serving.deps import EsgReaderDep, JsonBodyDep, StoreDep, SupplierEsgDep
from serving.jobs import esg
from serving.platform.errors import ApiError, ErrorDetail, documented

router = APIRouter(tags=["supplier-esg"])

_MODEL_UNAVAILABLE = documented(503, _503="not ready, or no champion model is loaded")
SupplierId = Annotated[Text, Path(min_length=1, max_length=MAX_ID_CHARS)]
Ocid = Annotated[Text, Path(min_length=1, max_length=MAX_ID_CHARS)]
MAX_REPORT_DAYS = 366 * 5


def _invalid(loc: list[str | int], message: str, kind: str) -> RequestValidationError:
    return RequestValidationError([ErrorDetail(loc=loc, msg=message, type=kind).model_dump()])


@router.get(
    "/suppliers/{supplier_id}/esg",
    response_model=SupplierEsgOut,
    responses={**_MODEL_UNAVAILABLE, **documented(404, _404="no such supplier")},
)
def supplier_esg(
    _caller: EsgReaderDep,
    model: SupplierEsgDep,
    supplier_id: SupplierId,
    as_of: Annotated[
        BoundedDate | None,
        Query(
            description=f"{BUSINESS_DATE_NOTE}; default: today there. ``freshness`` says how "
            "far it is past the supplier data (stale beyond 30 days)"
        ),
    ] = None,
) -> Response:
    """Score, band, action, pillars, gates and the top five reasons (each with its evidence,
    date and what would improve it). ``eligible`` is false only for a supplier-wide knock-out
    (a listing, a major accident); a missing or expired MA/KA mark or licence restricts its
    category only (``restricted_categories``). A supplier with no history is band
    ``unknown``, marked for manual review, with a reason saying so: never safe."""
    answer = esg.assess_supplier(model, supplier_id, as_of or business_today())
    if answer is None:
        raise ApiError(404, "not_found", "no such supplier in the register")
    return model_response(answer)


@router.post(
    "/tenders/{ocid}/esg-ranking",
    response_model=TenderRankingOut,
    responses={
        **_MODEL_UNAVAILABLE,
        **documented(400, 404, 415, _404="no such tender"),
    },
)
def tender_ranking(
    _caller: EsgReaderDep,
    _json: JsonBodyDep,
    model: SupplierEsgDep,
    store: StoreDep,
    ocid: Ocid,
    body: RankingRequest | None = None,
) -> Response:
    """The tender's bidders at their lowest valid bid: those barred (a supplier-wide
    knock-out, or a restriction in a category the tender buys) apart with their gates, the
    rest ranked by ``(1 − w) × price premium + w × ESG score / 100`` (lower first;
    ``models.esg.ranking``), unknown-band bidders last and marked for manual review. A
    tender without a valid priced bid is a 422 ``no_bids``."""
    request = body or RankingRequest()
    try:
        with store.use() as opened:
            tender = tender_bids(opened, ocid)
    except TenderNotFoundError:
        raise ApiError(404, "not_found", "no such tender") from None
    except NoBidsError as error:
        raise _invalid(["path", "ocid"], str(error), "no_bids") from None
    return model_response(
        esg.rank_tender(model, tender, esg_weight=request.esg_weight, as_of=request.as_of)
    )


@router.get("/esg/report", response_model=GriReportOut, responses=_MODEL_UNAVAILABLE)
def report(
    _caller: EsgReaderDep,
    model: SupplierEsgDep,
    store: StoreDep,
    date_from: Annotated[
        BoundedDate, Query(alias="from", description=f"first day, inclusive: {BUSINESS_DATE_NOTE}")
    ],
    date_to: Annotated[
        BoundedDate, Query(alias="to", description=f"last day, inclusive: {BUSINESS_DATE_NOTE}")
    ],
) -> Response:
    """GRI 308 / 414 figures for the period (``models.esg.reporting``): suppliers
    screened, flagged, put on corrective plans, dropped; new suppliers screened."""
    if date_from > date_to:
        raise _invalid(["query", "from"], "'from' is after 'to'", "period_reversed")
    if (date_to - date_from).days > MAX_REPORT_DAYS:
        raise _invalid(["query", "to"], "the period is longer than five years", "period_too_long")
    with store.use() as opened:
        records = period_records(opened, date_from, date_to)
    return model_response(esg.report(model, records, date_from, date_to))
