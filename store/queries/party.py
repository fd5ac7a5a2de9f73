"""The party-work domain's SQL: branch rosters, meeting attendance and the study records the
monthly assessment reads. Each function takes the store (``store.database.StoreReader``) and
returns a frame or plain values. Members are read by pseudonym; the only ciphertexts returned
are the branch's own members' names and numbers, for the party officer's meeting plan, and
its name, for the export."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from store.database import StoreReader


def branch_of_member(store: StoreReader, member_key: str) -> str | None:
    """The party branch key of the member, None when they have none or are unknown."""
    found = store.query("SELECT branch_key FROM members WHERE member_key = ?", [member_key])
    branches = found["branch_key"].dropna()
    return None if branches.empty else str(branches.iloc[0])


def branch_name_enc(store: StoreReader, branch_key: str) -> bytes | None:
    """One ciphertext of the branch's name (``members.party_branch_enc``), None if unknown."""
    found = store.query(
        "SELECT party_branch_enc FROM members WHERE branch_key = ? "
        "AND party_branch_enc IS NOT NULL ORDER BY member_key LIMIT 1",
        [branch_key],
    )
    return None if found.empty else bytes(found["party_branch_enc"].iloc[0])


def branch_rosters(store: StoreReader, branch_key: str) -> pd.DataFrame:
    """``member_key, employee_no_enc, name_enc, shift_pattern, crew, joined_on`` of the
    branch's members, by member key."""
    return store.query(
        "SELECT member_key, employee_no_enc, name_enc, shift_pattern, crew, joined_on "
        "FROM members WHERE branch_key = ? ORDER BY member_key",
        [branch_key],
    )


def branch_members(store: StoreReader) -> pd.DataFrame:
    """``member_key, branch_key, joined_on`` of every member with a branch."""
    return store.query(
        "SELECT member_key, branch_key, joined_on FROM members "
        "WHERE branch_key IS NOT NULL ORDER BY member_key"
    )


def answers(store: StoreReader, start: datetime, end: datetime) -> pd.DataFrame:
    """``member_key, kp_id, timestamp, success``: one row per answered statement in
    ``[start, end)`` (UTC) and knowledge point it trains."""
    return store.query(
        "SELECT member_key, UNNEST(knowledge_points) AS kp_id, timestamp, success "
        "FROM statements WHERE verb = 'answered' AND success IS NOT NULL "
        "AND timestamp >= ? AND timestamp < ? AND len(knowledge_points) > 0",
        [start, end],
    )


def mandatory_content(store: StoreReader) -> pd.DataFrame:
    """``content_id, format, mandatory_month`` of the items that are some month's
    mandatory study."""
    return store.query(
        "SELECT content_id, format, mandatory_month FROM content WHERE mandatory_month IS NOT NULL"
    )


def mandatory_study(store: StoreReader, start: datetime, end: datetime) -> pd.DataFrame:
    """``member_key, content_id, verb, timestamp, completion`` of the statements on
    mandatory items in ``[start, end)`` (UTC)."""
    return store.query(
        "SELECT s.member_key, s.content_id, s.verb, s.timestamp, s.completion "
        "FROM statements s JOIN content c ON s.content_id = c.content_id "
        "WHERE c.mandatory_month IS NOT NULL AND s.timestamp >= ? AND s.timestamp < ?",
        [start, end],
    )


def latest_check_in_judgements(store: StoreReader) -> pd.DataFrame:
    """``member_key, flagged, window_start, window_end`` of the latest judgement run."""
    return store.query(
        "SELECT member_key, flagged, window_start, window_end FROM check_in_judgements "
        "WHERE run_id = (SELECT run_id FROM check_in_judgements "
        "ORDER BY judged_at DESC, run_id LIMIT 1)"
    )


def meeting_attendance(store: StoreReader, start: datetime, end: datetime) -> pd.DataFrame:
    """``branch_key, member_key, starts_at, attended`` of meetings in ``[start, end)``
    (local time)."""
    return store.query(
        "SELECT branch_key, member_key, starts_at, attended FROM meeting_attendance "
        "WHERE starts_at >= ? AND starts_at < ?",
        [start, end],
    )


ASSESSMENT_TABLES = (
    "members",
    "statements",
    "content",
    "check_in_judgements",
    "meeting_attendance",
    "feedback_reports",
    "feedback_events",
)
"""The tables the monthly assessment reads (``feedback_events`` grows with every state change
of a report, which is how a resolution that updates ``feedback_reports`` in place shows)."""


def assessment_row_counts(store: StoreReader) -> tuple[int, ...]:
    """Row counts of ``ASSESSMENT_TABLES``, in that order: a cheap version of the data the
    assessment reads, for writes that do not come through ingestion (reports submitted and
    moved through the API, judgement runs written by training)."""
    counts = store.query(
        " UNION ALL ".join(
            f"SELECT {position} AS position, count(*) AS n FROM {table}"
            for position, table in enumerate(ASSESSMENT_TABLES)
        )
    ).sort_values("position")
    return tuple(int(n) for n in counts["n"])
