"""The auditor's pages: the warning queue, one warning with its evidence, and the review
form. They call the same service functions as ``GET /v1/procurement/alerts``,
``GET /v1/procurement/alerts/{id}`` and its review route, so the console and the API cannot
disagree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from serving.api.schemas.common import BUSINESS_TZ
from serving.api.schemas.procurement import (
    ALERT_ID_PATTERN,
    AlertDetail,
    AlertQuery,
    AlertSummary,
    ReviewRequest,
)
from serving.console.evidence import Evidence, tender_evidence
from serving.console.i18n import Catalogue
from serving.console.web import (
    catalogue,
    console_state,
    redirect,
    refusal,
    render,
    signed_form,
    signed_in_with,
    viewer,
)
from serving.jobs import console_reads, procurement_alerts
from serving.runtime import Runtime

router = APIRouter()
FEED_PATH = "/console/alerts-feed"
FEED_LIMIT = 50
FILTER_FIELDS = ("buyer_id", "supplier_id", "date_from", "date_to", "status")
QUEUE_FIELDS = ("category", "scheme", "sort")
LEVELS = ("red", "orange", "yellow")
VERDICTS = ("confirmed", "dismissed", "needs_information")
SCHEMES = (
    "bid_rigging",
    "price_inflation",
    "split_purchase",
    "single_source_abuse",
    "related_bidders",
    "contract_inflation",
    "other",
)


def _query(request: Request, page_size: int) -> tuple[AlertQuery, dict[str, Any], int]:
    """The queue's filters from the query string: (the service's query, the filters as the
    form shows them, the page number from 1). Blank fields do not filter; the category,
    scheme and sort the API's query lacks are kept in the shown filters only."""
    params = request.query_params
    shown: dict[str, Any] = {name: params.get(name, "").strip() for name in FILTER_FIELDS}
    shown["category"] = params.get("category", "").strip()[:128]
    shown["scheme"] = params.get("scheme", "") if params.get("scheme") in SCHEMES else ""
    sort = params.get("sort", "")
    shown["sort"] = sort if sort in console_reads.QUEUE_ORDERS else "probability"
    shown["level"] = [level for level in params.getlist("level") if level in LEVELS]
    try:
        page = max(1, min(int(params.get("page", "1")), 100_000))
    except ValueError:
        page = 1
    values = {name: value for name, value in shown.items() if value}
    query = AlertQuery.model_validate(
        {**values, "limit": page_size, "offset": (page - 1) * page_size}
    )
    return query, shown, page


def local_time(value: Any) -> str:
    """A naive-UTC or aware instant in China Standard Time, to the minute."""
    if value is None:
        return ""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return str(aware.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M"))


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


@router.get("/alerts")
def queue(request: Request) -> Response:
    session = signed_in_with(request, "auditor")
    if isinstance(session, Response):
        return session
    runtime: Runtime = request.app.state.runtime
    page_size = console_state(request).settings.page_size
    try:
        query, shown, page = _query(request, page_size)
    except ValidationError:
        return render(
            request,
            "alerts.html",
            session,
            status_code=422,
            alerts=None,
            shown={**dict.fromkeys(FILTER_FIELDS + QUEUE_FIELDS, ""), "level": []},
            filter_error=True,
            levels=LEVELS,
            schemes=SCHEMES,
            orders=console_reads.QUEUE_ORDERS,
            categories=[],
        )
    if runtime.store is None:
        return refusal(request, session, 503, "refused.unavailable")
    with runtime.store.use() as opened:
        found = console_reads.queue_page(
            opened,
            query,
            category=shown["category"] or None,
            scheme=shown["scheme"] or None,
            order=shown["sort"],
        )
        categories = console_reads.queue_categories(opened)
        cursor = console_reads.queue_cursor(opened)
    pages = max(1, -(-found.total // page_size))
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("page", "lang")]
    feed_params = [(k, v) for k, v in params if k != "after"]
    return render(
        request,
        "alerts.html",
        session,
        alerts=found,
        shown=shown,
        filter_error=False,
        levels=LEVELS,
        schemes=SCHEMES,
        orders=console_reads.QUEUE_ORDERS,
        categories=categories,
        page=page,
        pages=pages,
        page_params=params,
        local_time=local_time,
        feed_url=f"{FEED_PATH}?{urlencode(feed_params)}",
        feed_cursor=cursor.isoformat() if cursor else "",
        poll_seconds=console_state(request).settings.queue_poll_seconds,
    )


def _feed_refusal(request: Request, status_code: int) -> Response:
    return JSONResponse({"error": status_code}, status_code=status_code)


def _feed_row(words: Catalogue, alert: AlertSummary) -> dict[str, Any]:
    """One new warning as the queue's row shows it, in the reader's language."""
    return {
        "alert_id": alert.alert_id,
        "url": f"/console/alerts/{alert.alert_id}",
        "level": alert.warning_level,
        "level_label": words.text(f"level.{alert.warning_level}"),
        "probability": f"{alert.probability * 100:.1f}%",
        "ocid": alert.ocid,
        "buyer_id": alert.buyer_id or "",
        "suppliers": ", ".join(alert.supplier_ids),
        "decided": local_time(alert.decision_date),
        "flags": " ".join(alert.red_flag_codes),
        "status": words.text(f"status.{alert.status}"),
    }


@router.get(FEED_PATH.removeprefix("/console"))
def queue_feed(request: Request) -> Response:
    """The warnings written since the queue page's cursor (``after``, ISO naive UTC) that
    match its filters, as JSON for the page's script (``static/queue.js``). It answers the
    script, not the person, so it does not move the session's idle timeout; a request without
    a live auditor session gets a JSON 401 or 403, never the sign-in page."""
    session = viewer(request, refresh=False)
    if session is None:
        return _feed_refusal(request, 401)
    if session.role != "auditor":
        return _feed_refusal(request, 403)
    runtime: Runtime = request.app.state.runtime
    if runtime.store is None:
        return _feed_refusal(request, 503)
    raw_after = request.query_params.get("after", "")
    try:
        after = datetime.fromisoformat(raw_after) if raw_after else None
        query, shown, _ = _query(request, FEED_LIMIT)
    except ValueError:  # a malformed cursor or filter (ValidationError is a ValueError)
        return _feed_refusal(request, 400)
    if after is not None and after.tzinfo is not None:
        after = after.astimezone(UTC).replace(tzinfo=None)
    with runtime.store.use() as opened:
        found = console_reads.queue_since(
            opened,
            query,
            after=after,
            category=shown["category"] or None,
            scheme=shown["scheme"] or None,
            limit=FEED_LIMIT,
        )
    words = catalogue(request)
    return JSONResponse(
        {
            "cursor": found.cursor.isoformat() if found.cursor else "",
            "alerts": [_feed_row(words, alert) for alert in found.alerts],
        }
    )


def _alert_page(
    request: Request,
    session: Any,
    alert_id: str,
    *,
    status_code: int = 200,
    review_error: bool = False,
) -> Response:
    runtime: Runtime = request.app.state.runtime
    if runtime.store is None or runtime.personal is None:
        return refusal(request, session, 503, "refused.unavailable")
    with runtime.store.use() as opened:
        alert = procurement_alerts.get_alert(
            opened, runtime.personal, alert_id, reveal_comments=True
        )
        evidence: Evidence | None = None
        if alert is not None:
            evidence = tender_evidence(opened, alert.ocid, _naive_utc(alert.decision_date))
    if alert is None or evidence is None:
        return refusal(request, session, 404, "refused.no_alert")
    return render(
        request,
        "alert.html",
        session,
        status_code=status_code,
        alert=alert,
        evidence=evidence,
        verdicts=VERDICTS,
        schemes=SCHEMES,
        review_error=review_error,
        local_time=local_time,
    )


AlertId = Path(pattern=ALERT_ID_PATTERN)


@router.get("/alerts/{alert_id}")
def alert_page(request: Request, alert_id: str = AlertId) -> Response:
    session = signed_in_with(request, "auditor")
    if isinstance(session, Response):
        return session
    return _alert_page(request, session, alert_id)


@router.post("/alerts/{alert_id}/review")
async def review(request: Request, alert_id: str = AlertId) -> Response:
    """The verdict, through the same function as ``POST /v1/procurement/alerts/{id}/review``:
    a review, an audit outcome (a label for the next training run) and the alert's status."""
    signed = await signed_form(request, "auditor")
    if isinstance(signed, Response):
        return signed
    session, form = signed
    try:
        body = ReviewRequest.model_validate(
            {
                "verdict": form.get("verdict") or None,
                "scheme": form.get("scheme") or None,
                "comment": form.get("comment") or None,
            }
        )
    except ValidationError:
        return await run_in_threadpool(
            lambda: _alert_page(request, session, alert_id, status_code=400, review_error=True)
        )
    runtime: Runtime = request.app.state.runtime
    store, personal = runtime.store, runtime.personal
    if store is None or personal is None:
        return refusal(request, session, 503, "refused.unavailable")

    def record() -> AlertDetail | None:
        with store.use() as opened:
            return procurement_alerts.review_alert(
                opened, personal, alert_id, reviewer=session.subject, review=body
            )

    if await run_in_threadpool(record) is None:
        return refusal(request, session, 404, "refused.no_alert")
    return redirect(f"/console/alerts/{alert_id}#history")
