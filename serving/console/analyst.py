"""The ESG analyst's pages: supplier search; one supplier's band, score, pillars, knock-outs
and restricted categories with evidence and dates, its events over time (a server-drawn
chart) and the action its band calls for; the GRI 308/414 report of a period, on the page
and as CSV. The screen is ``serving.jobs.esg.assess_supplier`` and the report
``serving.jobs.esg.report``: the functions behind ``GET /v1/suppliers/{id}/esg`` and
``GET /v1/esg/report``."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from models.esg.reporting import period_records
from serving.api.schemas.common import business_today
from serving.api.schemas.esg import MAX_ID_CHARS, GriReportOut
from serving.console.charts import events_chart
from serving.console.web import refusal, render, signed_in_with
from serving.jobs import console_reads, esg
from serving.jobs.esg import EsgState
from serving.runtime import Runtime

router = APIRouter()
ROLE = "esg_analyst"
MAX_REPORT_DAYS = 366 * 5
# the report's rows: (field of GriReportOut, GRI disclosure it answers, '' for context)
REPORT_ROWS = (
    ("in_scope", ""),
    ("screened", "308-2a / 414-2a"),
    ("screened_share", ""),
    ("pending_manual_review", ""),
    ("knocked_out", ""),
    ("flagged", "308-2b / 414-2b"),
    ("corrective_plans", "308-2d / 414-2d"),
    ("dropped", "308-2e / 414-2e"),
    ("new_suppliers", ""),
    ("new_screened_environmental", "308-1"),
    ("new_screened_social", "414-1"),
    ("new_screened_share", ""),
    ("active_in_period", ""),
    ("active_flagged", ""),
    ("corrective_actions_closed", ""),
)


@router.get("/suppliers")
def suppliers(request: Request) -> Response:
    session = signed_in_with(request, ROLE)
    if isinstance(session, Response):
        return session
    runtime: Runtime = request.app.state.runtime
    if runtime.store is None:
        return refusal(request, session, 503, "refused.unavailable")
    text = request.query_params.get("q", "")[:MAX_ID_CHARS]
    with runtime.store.use() as opened:
        found = console_reads.search_suppliers(opened, text)
    return render(request, "suppliers.html", session, q=text, found=found)


@router.get("/suppliers/{supplier_id}")
def supplier(
    request: Request, supplier_id: str = Path(min_length=1, max_length=MAX_ID_CHARS)
) -> Response:
    session = signed_in_with(request, ROLE)
    if isinstance(session, Response):
        return session
    runtime: Runtime = request.app.state.runtime
    state: EsgState = request.app.state.esg
    if runtime.store is None or state.esg is None:
        return refusal(request, session, 503, "refused.unavailable")
    screen = esg.assess_supplier(state.esg, supplier_id, business_today())
    if screen is None:
        return refusal(request, session, 404, "refused.no_supplier")
    with runtime.store.use() as opened:
        events = console_reads.supplier_events(opened, supplier_id, screen.as_of)
    chart = events_chart([(event.event_date, event.severity) for event in events], screen.as_of)
    return render(request, "supplier.html", session, screen=screen, events=events, chart=chart)


def _period(request: Request) -> tuple[date, date] | None:
    """The report's period from ``from`` and ``to`` (default: the last full calendar year);
    None when invalid (reversed, over five years, not dates)."""
    today = business_today()
    try:
        start = date.fromisoformat(request.query_params.get("from") or f"{today.year - 1}-01-01")
        end = date.fromisoformat(request.query_params.get("to") or f"{today.year - 1}-12-31")
    except ValueError:
        return None
    if start > end or (end - start).days > MAX_REPORT_DAYS or end > today + timedelta(days=1):
        return None
    return start, end


def _report(request: Request) -> GriReportOut | None:
    period = _period(request)
    runtime: Runtime = request.app.state.runtime
    state: EsgState = request.app.state.esg
    if period is None or runtime.store is None or state.esg is None:
        return None
    with runtime.store.use() as opened:
        records = period_records(opened, *period)
    return esg.report(state.esg, records, *period)


@router.get("/esg-report")
def report_page(request: Request) -> Response:
    session = signed_in_with(request, ROLE)
    if isinstance(session, Response):
        return session
    period = _period(request)
    if period is None:
        return render(
            request,
            "report.html",
            session,
            status_code=422,
            report=None,
            period_error=True,
            rows=REPORT_ROWS,
            query="",
        )
    found = _report(request)
    if found is None:
        return refusal(request, session, 503, "refused.unavailable")
    query = f"from={period[0].isoformat()}&to={period[1].isoformat()}"
    return render(
        request,
        "report.html",
        session,
        report=found,
        period_error=False,
        rows=REPORT_ROWS,
        query=query,
    )


def report_csv(report: GriReportOut) -> str:
    """The report as CSV (metric, GRI disclosure, value), bands and pillars last."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["metric", "gri_disclosure", "value"])
    writer.writerow(["date_from", "", report.date_from.isoformat()])
    writer.writerow(["date_to", "", report.date_to.isoformat()])
    for name, disclosure in REPORT_ROWS:
        value = getattr(report, name)
        writer.writerow([name, disclosure, "" if value is None else value])
    for band, count in sorted(report.bands.items()):
        writer.writerow([f"band_{band}", "", count])
    for pillar, count in sorted(report.flagged_by_pillar.items()):
        writer.writerow([f"flagged_pillar_{pillar}", "308-2b / 414-2b", count])
    writer.writerow(["model", "", f"{report.model.name} v{report.model.version}"])
    return out.getvalue()


@router.get("/esg-report.csv")
def report_download(request: Request) -> Response:
    session = signed_in_with(request, ROLE)
    if isinstance(session, Response):
        return session
    if _period(request) is None:
        return refusal(request, session, 422, "refused.period")
    found = _report(request)
    if found is None:
        return refusal(request, session, 503, "refused.unavailable")
    name = f"gri-308-414_{found.date_from.isoformat()}_{found.date_to.isoformat()}.csv"
    return Response(
        report_csv(found),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
