"""Meeting attendance (三会一课 registers): who was expected at which branch meeting and came.

CSV with English or Chinese headers (``MEETING_COLUMNS`` below). One row per expected member
per meeting; output ``meeting_attendance`` rows in which the member and the branch are keyed
pseudonyms only (``personal.member_key`` and the ``branch`` namespace, as the members reader
makes them), so attendance joins the members register without any name stored.

``starts_at`` is local wall-clock time (Asia/Shanghai) as the register writes it; an offset,
if given, is converted to UTC and dropped, so send local times without one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from core.security import PersonalData
from ingest.readers.common import (
    ReadChunk,
    RecordError,
    finite_number,
    optional_text,
    parse_timestamp,
    required_text,
)
from ingest.readers.tabular import read_csv_chunks
from store.schema import MEETING_ATTENDANCE

READER = "meeting_attendance"

MEETING_COLUMNS: dict[str, str] = {
    **{name: name for name in ("meeting_id", "party_branch", "kind", "starts_at", "minutes")},
    **{name: name for name in ("mode", "employee_no", "attended")},
    **dict.fromkeys(("会议编号", "活动编号"), "meeting_id"),
    **dict.fromkeys(("党支部", "所在党支部", "所属党支部"), "party_branch"),
    **dict.fromkeys(("会议类型", "活动类型"), "kind"),
    **dict.fromkeys(("开始时间", "会议时间"), "starts_at"),
    **dict.fromkeys(("时长（分钟）", "时长(分钟)", "时长"), "minutes"),
    **dict.fromkeys(("参会方式",), "mode"),
    **dict.fromkeys(("工号", "员工编号", "职工编号"), "employee_no"),
    **dict.fromkeys(("是否参会", "出席"), "attended"),
}

ATTENDED_VALUES: dict[str, bool] = {
    "true": True,
    "false": False,
    "是": True,
    "否": False,
    "出席": True,
    "缺席": False,
    "1": True,
    "0": False,
}


def read_meeting_attendance(path: Path, personal: PersonalData) -> Iterator[ReadChunk]:
    """Chunks of ``meeting_attendance`` rows; one source record per CSV row."""

    def row(record: object) -> tuple[object, ...]:
        assert isinstance(record, dict)
        return _attendance_row(record, personal)

    yield from read_csv_chunks(
        READER,
        path,
        MEETING_ATTENDANCE.name,
        MEETING_COLUMNS,
        row,
        required=("meeting_id", "party_branch", "starts_at", "employee_no", "attended"),
    )


def _attendance_row(record: dict[str, str], personal: PersonalData) -> tuple[object, ...]:
    attended = (record.get("attended") or "").strip().lower()
    if attended not in ATTENDED_VALUES:
        raise RecordError("attended: expected true/false/是/否/出席/缺席 (or 1/0)")
    minutes = finite_number(record.get("minutes") or None, field_name="minutes")
    if minutes is not None and not 0 < minutes <= 24 * 60:
        raise RecordError("minutes: expected a meeting length between 1 and 1440")
    branch = required_text(record, "party_branch")
    return (
        required_text(record, "meeting_id"),
        personal.pseudonymiser.pseudonym("branch", branch),
        personal.member_key(required_text(record, "employee_no")),
        optional_text(record, "kind"),
        parse_timestamp(required_text(record, "starts_at"), field_name="starts_at"),
        None if minutes is None else int(minutes),
        optional_text(record, "mode"),
        ATTENDED_VALUES[attended],
    )
