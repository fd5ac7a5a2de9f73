"""The procurement manager's pages: recent tenders, and one tender's bidders ranked greener
(price premium, ESG band, knock-outs with their evidence) beside the tender's own risk. The
ranking is ``serving.jobs.esg.rank_tender``, the function behind
``POST /v1/tenders/{ocid}/esg-ranking``; the risk is the warning batch scoring wrote."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from models.esg.ranking import NoBidsError, TenderNotFoundError, tender_bids
from serving.api.schemas.esg import MAX_ID_CHARS
from serving.console.auditor import local_time
from serving.console.web import redirect, refusal, render, signed_in_with
from serving.jobs import console_reads, esg
from serving.jobs.esg import EsgState
from serving.runtime import Runtime

router = APIRouter()
ROLE = "procurement_manager"
DEFAULT_ESG_WEIGHT = 0.3


def _weight(request: Request) -> float:
    try:
        return min(1.0, max(0.0, float(request.query_params.get("w", DEFAULT_ESG_WEIGHT))))
    except ValueError:
        return DEFAULT_ESG_WEIGHT


@router.get("/tenders")
def tenders(request: Request) -> Response:
    session = signed_in_with(request, ROLE)
    if isinstance(session, Response):
        return session
    asked = request.query_params.get("ocid", "").strip()
    if asked:
        return redirect(f"/console/tenders/{quote(asked[:MAX_ID_CHARS], safe='')}")
    runtime: Runtime = request.app.state.runtime
    if runtime.store is None:
        return refusal(request, session, 503, "refused.unavailable")
    with runtime.store.use() as opened:
        found = console_reads.recent_tenders(opened)
    return render(request, "tenders.html", session, tenders=found, local_time=local_time)


@router.get("/tenders/{ocid}")
def tender(request: Request, ocid: str = Path(min_length=1, max_length=MAX_ID_CHARS)) -> Response:
    session = signed_in_with(request, ROLE)
    if isinstance(session, Response):
        return session
    runtime: Runtime = request.app.state.runtime
    state: EsgState = request.app.state.esg
    if runtime.store is None or runtime.personal is None:
        return refusal(request, session, 503, "refused.unavailable")
    weight = _weight(request)
    try:
        with runtime.store.use() as opened:
            bids = tender_bids(opened, ocid)
            risk = console_reads.tender_alert(opened, runtime.personal, ocid)
    except TenderNotFoundError:
        return refusal(request, session, 404, "refused.no_tender")
    except NoBidsError:
        return refusal(request, session, 404, "refused.no_bids")
    ranking = (
        None
        if state.esg is None
        else esg.rank_tender(state.esg, bids, esg_weight=weight, as_of=None)
    )
    return render(
        request,
        "tender.html",
        session,
        ocid=ocid,
        ranking=ranking,
        risk=risk,
        weight=weight,
        local_time=local_time,
    )
