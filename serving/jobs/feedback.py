"""Members' problem reports (发现—反馈—解决—复盘): submit, classify, route, move, protect.

States and transitions (``TRANSITIONS``): a report is ``found`` by a member and ``reported``
in one submission (both times kept); the role it is routed to ``resolve``s it; the review
(复盘, the handling role or a party officer) closes it as ``reviewed`` or sends it back to
``reported`` when the problem persists. Anything else is refused (``InvalidTransitionError``).
The service level: ``due_at = submitted_at + sla_hours[kind]``; a report is overdue when it is
unresolved past ``due_at`` or was resolved after it.

Reporter protection (whistle-blowing, for every kind and most of all integrity concerns):

* the identity is stored only as an AES-GCM ciphertext (``reporter_enc``, NULL when
  anonymous) and a keyed pseudonym in its own namespace (``reporter_key``, to find one's own
  reports); no view a handler gets (``HandlerReport``) holds either, nor the branch;
* a reporter reads only their own reports (another's id is a 404, as if absent);
* the identity is read only by ``reveal_reporter`` (an administrator, with a written reason),
  which records the attempt before reading and is refused for anonymous reports.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from core.clock import utc_now
from core.security import PersonalData
from models.feedback.keywords import keyword_kind
from serving.jobs.feedback_settings import FeedbackSettings
from serving.live.registry import load_registered_pyfunc
from store.database import Store
from store.queries import feedback as queries
from store.schema import FEEDBACK_KINDS

logger = logging.getLogger(__name__)

FOUND, REPORTED, RESOLVED, REVIEWED = "found", "reported", "resolved", "reviewed"
STATES = (FOUND, REPORTED, RESOLVED, REVIEWED)
TRANSITIONS: dict[str, frozenset[str]] = {
    FOUND: frozenset({REPORTED}),
    REPORTED: frozenset({RESOLVED}),
    RESOLVED: frozenset({REVIEWED, REPORTED}),
    REVIEWED: frozenset(),
}
REPORTER_NAMESPACE = "feedback_reporter"
SUBJECT_NAMESPACE = "subject"
REVIEWER_ROLE = "party_officer"
UNCLASSIFIED_KIND = "process_blockage"  # no model and no keyword: the party officers triage it


class Caller(Protocol):
    """Who acts: an API token's ``Principal`` or a console ``Session`` (both carry these)."""

    @property
    def subject(self) -> str: ...

    @property
    def role(self) -> str: ...


Classify = Callable[[str], tuple[str, float, str]]
"""text -> (kind, probability, source)."""


class InvalidTransitionError(ValueError):
    """The report cannot move from its state to the one asked for."""


class ReportNotFoundError(LookupError):
    """No such report, or not one the caller may see (the two look the same)."""


class NotYourReportError(PermissionError):
    """The caller's role does not handle this report."""


class NoIdentityError(LookupError):
    """The report was anonymous: there is no identity to reveal."""


def keyword_classify(text: str) -> tuple[str, float, str]:
    """The fallback while no classifier is registered."""
    kind = keyword_kind(text)
    return (kind or UNCLASSIFIED_KIND, float("nan"), "keywords")


def check_transition(current: str, target: str) -> None:
    if target not in TRANSITIONS.get(current, frozenset()):
        raise InvalidTransitionError(f"a {current} report cannot become {target}")


def is_overdue(row: dict[str, Any], now: datetime) -> bool:
    due = row["due_at"]
    if due is None:
        return False
    resolved = row["resolved_at"]
    return (resolved is None and now > due) or (resolved is not None and resolved > due)


@dataclass(frozen=True)
class ReportView:
    """What a reporter or a handler sees of a report: never who reported it."""

    report_id: str
    found_at: datetime | None
    submitted_at: datetime
    text: str
    kind: str
    kind_probability: float | None
    kind_source: str | None
    handler_kind: str | None
    ocid: str | None
    supplier_id: str | None
    category: str | None
    route_role: str
    state: str
    due_at: datetime | None
    resolved_at: datetime | None
    reviewed_at: datetime | None
    overdue: bool


def _view(row: dict[str, Any], personal: PersonalData, now: datetime) -> ReportView:
    probability = row["kind_probability"]
    return ReportView(
        report_id=row["report_id"],
        found_at=row["found_at"],
        submitted_at=row["submitted_at"],
        text=personal.cipher.decrypt(row["text_enc"], column="text_enc") or "",
        kind=row["kind"],
        kind_probability=None if probability is None or probability != probability else probability,
        kind_source=row["kind_source"],
        handler_kind=row["handler_kind"],
        ocid=row["ocid"],
        supplier_id=row["supplier_id"],
        category=row["category"],
        route_role=row["route_role"],
        state=row["state"],
        due_at=row["due_at"],
        resolved_at=row["resolved_at"],
        reviewed_at=row["reviewed_at"],
        overdue=is_overdue(row, now),
    )


def reporter_key(personal: PersonalData, subject: str) -> str:
    return personal.pseudonymiser.pseudonym(REPORTER_NAMESPACE, subject.strip())


def actor_key(personal: PersonalData, subject: str) -> str:
    return personal.pseudonymiser.pseudonym(SUBJECT_NAMESPACE, subject)


@dataclass(frozen=True)
class Submission:
    text: str
    found_at: datetime | None = None
    ocid: str | None = None
    supplier_id: str | None = None
    category: str | None = None
    anonymous: bool = False


def submit_report(
    store: Store,
    personal: PersonalData,
    settings: FeedbackSettings,
    caller: Caller,
    submission: Submission,
    *,
    classify: Classify = keyword_classify,
    now: datetime | None = None,
) -> ReportView:
    """Store a member's report as ``reported`` (found then reported, two events), classified
    and routed. The caller holds the store lock."""
    now = now or utc_now()
    kind, probability, source = classify(submission.text)
    if kind not in FEEDBACK_KINDS:
        raise ValueError(f"the classifier returned an unknown kind {kind!r}")
    found_at = min(submission.found_at or now, now)
    branch_key = None
    if not submission.anonymous:
        branch_key = queries.member_branch_key(
            store.connection, personal.member_key(caller.subject)
        )
    row = {
        "report_id": uuid.uuid4().hex,
        "found_at": found_at,
        "submitted_at": now,
        "reporter_key": reporter_key(personal, caller.subject),
        "reporter_enc": None
        if submission.anonymous
        else personal.cipher.encrypt(caller.subject.strip(), column="reporter_enc"),
        "anonymous": submission.anonymous,
        "branch_key": branch_key,
        "text_enc": personal.cipher.encrypt(submission.text, column="text_enc"),
        "kind": kind,
        "kind_probability": probability,
        "kind_source": source,
        "ocid": submission.ocid,
        "supplier_id": submission.supplier_id,
        "category": submission.category,
        "route_role": settings.routes[kind],
        "state": REPORTED,
        "due_at": now + timedelta(hours=settings.sla_hours[kind]),
        "source_file": "api",
        "ingested_at": now,
    }
    with store.transaction():
        queries.insert_report(store.connection, row)
        for seq, (before, after, at) in enumerate(
            ((None, FOUND, found_at), (FOUND, REPORTED, now)), 1
        ):
            queries.insert_event(
                store.connection,
                {
                    "report_id": row["report_id"],
                    "seq": seq,
                    "from_state": before,
                    "to_state": after,
                    "moved_at": at,
                    "actor_key": "",
                    "actor_role": "member",
                },
            )
    stored = queries.report_row(store.connection, str(row["report_id"]))
    assert stored is not None
    return _view(stored, personal, now)


def linked_row(store: Store, report_id: str) -> pd.DataFrame:
    """The report as the risk features read it (``store.queries.feedback.linked_reports``'
    columns, no reporter): one row, or none when it links to nothing."""
    return queries.linked_report(store.connection, report_id)


def own_reports(store: Store, personal: PersonalData, caller: Caller) -> list[ReportView]:
    """The caller's own reports (named or anonymous), newest first."""
    now = utc_now()
    rows = queries.reports_of_reporter(store.connection, reporter_key(personal, caller.subject))
    return [_view(row, personal, now) for row in rows]


def report_for(
    store: Store, personal: PersonalData, caller: Caller, report_id: str
) -> tuple[ReportView, list[dict[str, Any]]]:
    """One report and its state changes, for its reporter (a member) or the role handling it
    (a party officer reads every report for the review); else ``ReportNotFoundError``."""
    row = queries.report_row(store.connection, report_id)
    if row is None:
        raise ReportNotFoundError(report_id)
    if caller.role == "member":
        if queries.reporter_key_of(store.connection, report_id) != reporter_key(
            personal, caller.subject
        ):
            raise ReportNotFoundError(report_id)
    elif caller.role not in (row["route_role"], REVIEWER_ROLE):
        raise ReportNotFoundError(report_id)
    return _view(row, personal, utc_now()), queries.events_of(store.connection, report_id)


def handler_reports(
    store: Store,
    personal: PersonalData,
    caller: Caller,
    *,
    state: str | None,
    limit: int,
    offset: int,
) -> tuple[list[ReportView], int]:
    """The reports routed to the caller's role, oldest due first."""
    rows, total = queries.reports_for_role(
        store.connection, caller.role, state=state, limit=limit, offset=offset
    )
    now = utc_now()
    return [_view(row, personal, now) for row in rows], total


def move_report(
    store: Store,
    personal: PersonalData,
    caller: Caller,
    report_id: str,
    target: str,
    *,
    note: str | None = None,
    handler_kind: str | None = None,
    now: datetime | None = None,
) -> ReportView:
    """Move a report one step. ``resolved`` is the handling role's; ``reviewed`` and the
    reopening back to ``reported`` are the handling role's or a party officer's. The handler
    may confirm or correct the kind (``handler_kind``, the classifier's label)."""
    now = now or utc_now()
    row = queries.report_row(store.connection, report_id)
    if row is None:
        raise ReportNotFoundError(report_id)
    allowed = {row["route_role"]} if target == RESOLVED else {row["route_role"], REVIEWER_ROLE}
    if caller.role not in allowed:
        if caller.role not in (row["route_role"], REVIEWER_ROLE):
            raise ReportNotFoundError(report_id)
        raise NotYourReportError(f"a {caller.role} cannot move a report to {target}")
    check_transition(row["state"], target)
    if handler_kind is not None and handler_kind not in FEEDBACK_KINDS:
        raise ValueError(f"unknown kind {handler_kind!r}")
    times: dict[str, datetime | None] = {}
    if target == RESOLVED and row["resolved_at"] is None:
        times["resolved_at"] = now
    if target == REVIEWED:
        times["reviewed_at"] = now
    with store.transaction():
        queries.set_state(
            store.connection, report_id, target, times=times, handler_kind=handler_kind
        )
        queries.insert_event(
            store.connection,
            {
                "report_id": report_id,
                "seq": queries.next_event_seq(store.connection, report_id),
                "from_state": row["state"],
                "to_state": target,
                "moved_at": now,
                "actor_key": actor_key(personal, caller.subject),
                "actor_role": caller.role,
                "note_enc": personal.cipher.encrypt(note, column="note_enc"),
            },
        )
    stored = queries.report_row(store.connection, report_id)
    assert stored is not None
    return _view(stored, personal, now)


def reveal_reporter(
    store: Store,
    personal: PersonalData,
    caller: Caller,
    report_id: str,
    reason: str,
    *,
    now: datetime | None = None,
) -> str:
    """The reporter's employee number, for an administrator with a reason. The attempt is
    recorded (``feedback_identity_access``) before the identity is read, granted or not;
    the route adds an entry to the audit chain. ``NoIdentityError`` for anonymous reports."""
    now = now or utc_now()
    identity = queries.reporter_identity(store.connection, report_id)
    if identity is None:
        raise ReportNotFoundError(report_id)
    anonymous, token = identity
    granted = not anonymous and token is not None
    queries.insert_identity_access(
        store.connection,
        {
            "access_id": uuid.uuid4().hex,
            "report_id": report_id,
            "accessed_at": now,
            "actor_key": actor_key(personal, caller.subject),
            "actor_role": caller.role,
            "reason_enc": personal.cipher.encrypt(reason, column="reason_enc"),
            "granted": granted,
        },
    )
    if not granted:
        raise NoIdentityError(report_id)
    employee_no = personal.cipher.decrypt(token, column="reporter_enc")
    assert employee_no is not None
    return employee_no


FEEDBACK_MODEL = "feedback-kind"


@dataclass
class FeedbackState:
    """The settings and the classifier the routes use: the registered champion's
    probabilities when one loads, else the keyword baseline."""

    settings: FeedbackSettings
    model: Any = None
    model_version: str | None = None

    def classify(self, text: str) -> tuple[str, float, str]:
        if self.model is None:
            return keyword_classify(text)
        import pandas as pd

        row = self.model.predict(pd.DataFrame({"text": [text]})).iloc[0]
        kind = str(row["kind"])
        return kind, float(row[kind]), f"{FEEDBACK_MODEL}@{self.model_version}"


def load_feedback(settings: FeedbackSettings, tracking_uri: str) -> FeedbackState:
    """The champion classifier from the registry, or the keyword fallback; never raises (the
    service takes reports either way)."""
    state = FeedbackState(settings=settings)
    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri[10:]).exists():
        return state
    try:
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        version = client.get_model_version_by_alias(FEEDBACK_MODEL, "champion")
        state.model = load_registered_pyfunc(
            tracking_uri, f"models:/{FEEDBACK_MODEL}/{version.version}"
        )
        state.model_version = str(version.version)
    except Exception:
        logger.info("no %s champion: reports are classified by keywords", FEEDBACK_MODEL)
        state.model = None
    return state
