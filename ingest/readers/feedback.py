"""Problem reports pushed by the platform: ``feedback/reports.csv`` into ``feedback_reports``.

Header: ``report_id, found_at, submitted_at, employee_no, party_branch, anonymous, text, ocid,
supplier_id, category, kind, resolved_at, reviewed_at`` (``report_id``, ``submitted_at`` and
``text`` required). ``kind`` is the handler's confirmed kind (the classifier's label), and is
also the stored kind; the state follows from the times given. The reporter is stored as in
the service: a pseudonym in its own namespace and, unless anonymous, the encrypted employee
number; the branch as the members' branch pseudonym; the text encrypted. Routing and the
service level are ``ROUTES`` and ``SLA_HOURS`` (the service's defaults).

Quarantined: a missing required field, an unknown kind, a malformed time, a resolution
before the submission.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from core.security import PersonalData
from ingest.readers.common import (
    ReadChunk,
    RecordError,
    optional_text,
    parse_timestamp,
    required_text,
)
from ingest.readers.tabular import read_csv_chunks
from store.schema import FEEDBACK_KINDS, FEEDBACK_REPORTS

READER = "feedback_reports"
REPORTER_NAMESPACE = "feedback_reporter"
HEADER = (
    "report_id",
    "found_at",
    "submitted_at",
    "employee_no",
    "party_branch",
    "anonymous",
    "text",
    "ocid",
    "supplier_id",
    "category",
    "kind",
    "resolved_at",
    "reviewed_at",
)
"""The file's header, in order (the world writes it; the platform's export follows it)."""
COLUMNS = {name: name for name in HEADER}
ROUTES: dict[str, str] = {
    "delivery_delay": "procurement_manager",
    "price": "procurement_manager",
    "quality": "procurement_manager",
    "process_blockage": "party_officer",
    "integrity_concern": "auditor",
}
"""Integrity concerns go to audit and supervision (审计监察), never to the procurement line
the report may be about; blockages go to the party officers who run the loop."""
SLA_HOURS: dict[str, float] = {
    "delivery_delay": 48.0,
    "price": 120.0,
    "quality": 72.0,
    "process_blockage": 72.0,
    "integrity_concern": 72.0,
}
"""Hours from submission to resolution before a report is overdue."""


def _optional_time(record: dict[str, str], name: str) -> datetime | None:
    text = (record.get(name) or "").strip()
    return parse_timestamp(text, field_name=name).replace(tzinfo=None) if text else None


def _report_row(record: dict[str, str], personal: PersonalData) -> tuple[object, ...]:
    report_id = required_text(record, "report_id")
    submitted = parse_timestamp(required_text(record, "submitted_at"), field_name="submitted_at")
    submitted = submitted.replace(tzinfo=None)
    text = required_text(record, "text")
    kind = (record.get("kind") or "").strip()
    if kind not in FEEDBACK_KINDS:
        raise RecordError(f"kind: {kind!r} is not one of {', '.join(FEEDBACK_KINDS)}")
    resolved, reviewed = (
        _optional_time(record, "resolved_at"),
        _optional_time(record, "reviewed_at"),
    )
    if resolved is not None and resolved < submitted:
        raise RecordError("resolved_at: before submitted_at")
    employee_no = optional_text(record, "employee_no")
    anonymous = (record.get("anonymous") or "").strip().lower() in ("true", "1", "是", "yes")
    branch = None if anonymous else optional_text(record, "party_branch")
    state = "reviewed" if reviewed else "resolved" if resolved else "reported"
    cipher = personal.cipher
    return (
        report_id,
        _optional_time(record, "found_at"),
        submitted,
        personal.pseudonymiser.pseudonym(REPORTER_NAMESPACE, employee_no) if employee_no else None,
        None if anonymous else cipher.encrypt(employee_no, column="reporter_enc"),
        anonymous,
        personal.pseudonymiser.pseudonym("branch", branch) if branch else None,
        cipher.encrypt(text, column="text_enc"),
        kind,
        None,
        "file",
        kind,
        optional_text(record, "ocid"),
        optional_text(record, "supplier_id"),
        optional_text(record, "category"),
        ROUTES[kind],
        state,
        submitted + timedelta(hours=SLA_HOURS[kind]),
        resolved,
        reviewed,
    )


def read_feedback_reports(path: Path, personal: PersonalData) -> Iterator[ReadChunk]:
    """Chunks of ``feedback_reports`` rows; one report per CSV row."""

    def report_row(record: object) -> tuple[object, ...]:
        assert isinstance(record, dict)
        return _report_row(record, personal)

    yield from read_csv_chunks(
        READER,
        Path(path),
        FEEDBACK_REPORTS.name,
        COLUMNS,
        report_row,
        required=("report_id", "submitted_at", "text"),
    )
