"""The demo world's meeting history and its reader: who is expected, that attendance follows
the rosters, and that the register is stored under pseudonyms only."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.security import PersonalData
from ingest.run import ingest_file
from store.database import Store
from world.config import WorldConfig
from world.meetings import MEETINGS_FILE, generate_meetings_world, meeting_attendance
from world.people import sample_members

CONFIG = WorldConfig(scale=0.1)


def _members() -> pd.DataFrame:
    return sample_members(
        CONFIG.rng("learning-members"), CONFIG.n_members, CONFIG.start, CONFIG.end
    )


def test_only_joined_party_members_of_the_branch_are_expected() -> None:
    members = _members()
    history = meeting_attendance(CONFIG, members)
    joined = history.merge(members, on="employee_no", suffixes=("", "_member"))
    assert joined["party_member"].all()
    assert (joined["party_branch"] == joined["party_branch_member"]).all()
    starts = pd.to_datetime(joined["starts_at"]).dt.date
    assert (joined["joined_on"] <= starts).all()


def test_shift_workers_miss_the_friday_afternoon_more_than_office_staff() -> None:
    members = _members()
    history = meeting_attendance(CONFIG, members).merge(
        members[["employee_no", "shift_pattern"]], on="employee_no"
    )
    rate = (history["attended"] == "true").groupby(history["shift_pattern"]).mean()
    assert rate["day"] > 0.85
    assert rate["three_shift"] < rate["day"] - 0.2


def test_the_register_is_read_under_pseudonyms(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    counts = generate_meetings_world(CONFIG, tmp_path / "world", tmp_path / "truth")
    path = tmp_path / "world" / MEETINGS_FILE
    report = ingest_file(store, personal, "meeting_attendance", path)
    assert report.records_in == counts["meeting_attendance_rows"]
    assert report.quarantined == 0
    stored = store.query("SELECT * FROM meeting_attendance")
    assert len(stored) == counts["meeting_attendance_rows"]
    text = path.read_text(encoding="utf-8")
    first = text.splitlines()[1].split(",")
    assert first[6] not in stored.astype(str).to_numpy()  # no employee number in plaintext
    assert stored["member_key"].iloc[0] != first[6]


def test_chinese_headers_and_a_bad_value(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    path = tmp_path / "register.csv"
    path.write_text(
        "会议编号,党支部,会议类型,开始时间,时长（分钟）,参会方式,工号,是否参会\n"
        "M1,第一党支部,themed_party_day,2025-03-07T16:00,90,in_person,E100001,出席\n"
        "M1,第一党支部,themed_party_day,2025-03-07T16:00,90,in_person,E100002,也许\n",
        encoding="utf-8",
    )
    ingest_file(store, personal, "meeting_attendance", path)
    stored = store.query("SELECT * FROM meeting_attendance")
    assert stored["attended"].tolist() == [True]
    assert stored["member_key"].iloc[0] == personal.member_key("E100001")
    assert stored["branch_key"].iloc[0] == personal.pseudonymiser.pseudonym("branch", "第一党支部")
    quarantined = store.query("SELECT * FROM quarantine")
    assert len(quarantined) == 1
