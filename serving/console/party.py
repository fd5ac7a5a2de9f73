"""The party officer's party-work pages: meeting slots for their own branch with the reasons,
and the branch's monthly assessment with its trend and the filing CSV.

The same service functions as ``GET /v1/branches/mine/meeting-slots``,
``GET /v1/branches/mine/assessment`` and its ``.csv`` (``serving.jobs.party``), on the same
branch (the officer's own member record) and through the same assessment cache, so the
console and the API cannot disagree. A month of a group under five shows as withheld: the
frame already holds no figure of it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from features.party.assessment import FIGURES, MIN_GROUP_SIZE
from features.party.meetings import REASONS, MeetingRules
from serving.api.schemas.party import AssessmentOut, MeetingSlotsOut
from serving.console.web import render, signed_in_with
from serving.jobs import party
from serving.runtime import Runtime
from store.queries import party as queries

router = APIRouter()
ROLE = "party_officer"
PERIOD_DAYS = 28
ASSESSMENT_MONTHS = 12
# figures shown as percentages (the others: mastery gain in points, resolution in hours)
SHARE_FIGURES = frozenset(
    {"mandatory_completed", "mandatory_passed", "check_in_only_share", "meeting_coverage"}
)
SPARK_WIDTH, SPARK_HEIGHT = 120, 28


def _start(value: str | None, today: date) -> date:
    """The period's first day from the form; next Monday when blank or malformed."""
    try:
        return date.fromisoformat(value) if value else _next_monday(today)
    except ValueError:
        return _next_monday(today)


def _next_monday(today: date) -> date:
    return today + timedelta(days=7 - today.weekday())


@router.get("/meetings")
def meetings(request: Request) -> Response:
    session = signed_in_with(request, ROLE)
    if isinstance(session, Response):
        return session
    runtime: Runtime = request.app.state.runtime
    if runtime.store is None or runtime.personal is None:
        return render(request, "party_meetings.html", session, status="unavailable")
    start = _start(request.query_params.get("start"), date.today())
    end = start + timedelta(days=PERIOD_DAYS - 1)
    personal = runtime.personal
    with runtime.store.use() as opened:
        branch_key = queries.branch_of_member(opened, personal.member_key(session.subject))
        plan: MeetingSlotsOut | None = None
        if branch_key is not None:
            plan = party.meeting_slots(opened, personal, branch_key, start, end, MeetingRules())
    return render(
        request,
        "party_meetings.html",
        session,
        status="ok" if plan is not None else "no_branch",
        plan=plan,
        start=start,
        end=end,
        absence=REASONS,
    )


@dataclass(frozen=True)
class FigureRow:
    """One figure of the assessment across the months, as the page shows it."""

    name: str
    values: list[str]  # per month, formatted; "" when withheld or missing
    trends: list[str]  # per month, the change on the previous three months, signed
    vs_median: list[str]
    spark: str  # SVG polyline points of the shown values, "" with fewer than two


def _format(figure: str, value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return ""
    sign = "+" if signed and value > 0 else ""
    if figure in SHARE_FIGURES:
        return f"{sign}{value * 100:.1f}%"
    if figure == "mastery_gain":
        return f"{sign}{value * 100:.1f}"
    return f"{sign}{value:.1f}"


def _spark(values: list[float | None]) -> str:
    """Polyline points over the months with a figure (x by month, y scaled to the range)."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(points) < 2:
        return ""
    low, high = min(v for _, v in points), max(v for _, v in points)
    span = (high - low) or 1.0
    step = SPARK_WIDTH / max(1, len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{SPARK_HEIGHT - 2 - (v - low) / span * (SPARK_HEIGHT - 4):.1f}"
        for i, v in points
    )


def figure_rows(assessment: AssessmentOut) -> list[FigureRow]:
    months = assessment.months
    rows = []
    for figure in FIGURES:
        values = [getattr(month, figure) for month in months]
        rows.append(
            FigureRow(
                name=figure,
                values=[_format(figure, v) for v in values],
                trends=[_format(figure, m.trend.get(figure), signed=True) for m in months],
                vs_median=[_format(figure, m.vs_median.get(figure), signed=True) for m in months],
                spark=_spark(values),
            )
        )
    return rows


def _officer_assessment(
    request: Request, subject: str
) -> tuple[str, AssessmentOut | None, bytes | None, list[str]]:
    """(status, the branch's months, the filing CSV when ``request`` asks for it, months)."""
    runtime: Runtime = request.app.state.runtime
    if runtime.store is None or runtime.personal is None:
        return "unavailable", None, None, []
    cache: party.AssessmentCache = request.app.state.party_assessment
    wanted = party.recent_months(date.today(), ASSESSMENT_MONTHS)
    as_of = request.query_params.get("as_of")
    if as_of:
        with contextlib.suppress(ValueError):  # a malformed date: the months up to today
            wanted = party.recent_months(date.fromisoformat(as_of), ASSESSMENT_MONTHS)
    personal = runtime.personal
    with runtime.store.use() as opened:
        branch_key = queries.branch_of_member(opened, personal.member_key(subject))
        if branch_key is None:
            return "no_branch", None, None, wanted
        frame = cache.frame(opened, wanted)
        export = (
            party.branch_export(frame, branch_key, opened, personal)
            if request.url.path.endswith(".csv")
            else None
        )
    return "ok", party.branch_rows(frame, branch_key), export, wanted


@router.get("/assessment")
def assessment(request: Request) -> Response:
    session = signed_in_with(request, ROLE)
    if isinstance(session, Response):
        return session
    status, months, _, wanted = _officer_assessment(request, session.subject)
    return render(
        request,
        "party_assessment.html",
        session,
        status=status,
        assessment=months,
        rows=figure_rows(months) if months is not None else [],
        as_of=request.query_params.get("as_of", ""),
        last_month=wanted[-1] if wanted else "",
        min_group_size=MIN_GROUP_SIZE,
        spark_width=SPARK_WIDTH,
        spark_height=SPARK_HEIGHT,
    )


@router.get("/assessment.csv")
def assessment_csv(request: Request) -> Response:
    session = signed_in_with(request, ROLE)
    if isinstance(session, Response):
        return session
    status, _, export, wanted = _officer_assessment(request, session.subject)
    if export is None:
        return render(request, "party_assessment.html", session, status=status, status_code=404)
    return Response(
        export,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="branch-assessment-{wanted[-1]}.csv"'
        },
    )
