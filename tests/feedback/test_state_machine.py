"""A report's states (发现—反馈—解决—复盘): allowed moves only, times kept, service level."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from core.security import PersonalData
from serving.jobs import feedback as jobs
from serving.jobs.feedback_settings import FeedbackSettings
from serving.platform.auth import Principal
from store.database import Store

NOW = datetime(2025, 6, 2, 8, 0)


def _principal(subject: str, role: str) -> Principal:
    return Principal(subject=subject, role=role, token_id="t", expires_at=NOW, issued_at=NOW)  # type: ignore[arg-type]


MEMBER = _principal("E1001", "member")
MANAGER = _principal("buyer-lead", "procurement_manager")
OFFICER = _principal("officer", "party_officer")
AUDITOR = _principal("aud", "auditor")


def _submit(
    store: Store, personal: PersonalData, text: str = "锚杆到货晚了十天，延迟影响生产"
) -> jobs.ReportView:
    store.ensure_schema()
    return jobs.submit_report(
        store,
        personal,
        FeedbackSettings(),
        MEMBER,
        jobs.Submission(text=text, found_at=NOW - timedelta(days=1), ocid="ocds-x-1"),
        now=NOW,
    )


def test_transition_table_is_the_loop() -> None:
    jobs.check_transition("found", "reported")
    jobs.check_transition("reported", "resolved")
    jobs.check_transition("resolved", "reviewed")
    jobs.check_transition("resolved", "reported")  # the review reopens it
    for current, target in [
        ("reported", "reviewed"),
        ("found", "resolved"),
        ("reviewed", "reported"),
        ("reviewed", "resolved"),
        ("resolved", "resolved"),
    ]:
        with pytest.raises(jobs.InvalidTransitionError):
            jobs.check_transition(current, target)


def test_submission_is_classified_routed_and_timed(store: Store, personal: PersonalData) -> None:
    view = _submit(store, personal)
    assert view.state == "reported"
    assert view.kind == "delivery_delay"
    assert view.kind_source == "keywords"
    assert view.route_role == "procurement_manager"
    assert view.due_at == NOW + timedelta(hours=48)
    assert view.found_at == NOW - timedelta(days=1)
    _, events = jobs.report_for(store, personal, MEMBER, view.report_id)
    assert [(e["from_state"], e["to_state"]) for e in events] == [
        (None, "found"),
        ("found", "reported"),
    ]


def test_moves_keep_times_and_refuse_skips(store: Store, personal: PersonalData) -> None:
    view = _submit(store, personal)
    with pytest.raises(jobs.InvalidTransitionError):
        jobs.move_report(store, personal, MANAGER, view.report_id, "reviewed", now=NOW)
    with pytest.raises(jobs.NotYourReportError):  # the officer reviews, the manager resolves
        jobs.move_report(store, personal, OFFICER, view.report_id, "resolved", now=NOW)
    with pytest.raises(jobs.ReportNotFoundError):  # not routed to audit: as if absent
        jobs.move_report(store, personal, AUDITOR, view.report_id, "resolved", now=NOW)
    resolved_at = NOW + timedelta(hours=60)
    moved = jobs.move_report(
        store,
        personal,
        MANAGER,
        view.report_id,
        "resolved",
        now=resolved_at,
        handler_kind="quality",
    )
    assert moved.state == "resolved"
    assert moved.resolved_at == resolved_at
    assert moved.handler_kind == "quality"
    assert moved.overdue  # resolved 60 hours after submission, 48 allowed
    reopened = jobs.move_report(
        store, personal, OFFICER, view.report_id, "reported", now=resolved_at
    )
    assert reopened.state == "reported"
    assert reopened.resolved_at == resolved_at
    jobs.move_report(store, personal, MANAGER, view.report_id, "resolved", now=resolved_at)
    closed = jobs.move_report(store, personal, OFFICER, view.report_id, "reviewed", now=resolved_at)
    assert closed.state == "reviewed"
    assert closed.reviewed_at == resolved_at
    with pytest.raises(jobs.InvalidTransitionError):
        jobs.move_report(store, personal, OFFICER, view.report_id, "reported", now=resolved_at)
    _, events = jobs.report_for(store, personal, MEMBER, view.report_id)
    assert [e["to_state"] for e in events] == [
        "found",
        "reported",
        "resolved",
        "reported",
        "resolved",
        "reviewed",
    ]


def test_overdue_is_the_service_level_clock() -> None:
    due = NOW + timedelta(hours=48)
    open_row = {"due_at": due, "resolved_at": None}
    assert not jobs.is_overdue(open_row, due)
    assert jobs.is_overdue(open_row, due + timedelta(seconds=1))
    assert not jobs.is_overdue({"due_at": due, "resolved_at": due}, due + timedelta(days=9))


def test_integrity_concern_goes_to_audit(store: Store, personal: PersonalData) -> None:
    view = _submit(store, personal, "有人收回扣，评标前就打招呼定了关系户")
    assert view.kind == "integrity_concern"
    assert view.route_role == "auditor"
