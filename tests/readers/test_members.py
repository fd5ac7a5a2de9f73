"""Members register: pseudonymised and encrypted, nothing personal in plaintext."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import cast

import pandas as pd

from core.security import PersonalData
from ingest.readers.members import read_members
from ingest.run import ingest_file
from store.database import Store, plaintext_present

ENGLISH_HEADER = [
    "employee_no",
    "name",
    "phone",
    "role",
    "unit",
    "party_member",
    "party_branch",
    "shift_pattern",
    "crew",
    "joined_on",
]
CHINESE_HEADER = [
    "工号",
    "姓名",
    "手机号",
    "岗位",
    "单位",
    "是否党员",
    "党支部",
    "班制",
    "班组",
    "入职日期",
]

GOOD_ROWS = [
    [
        "E00017",
        "欧阳明远",
        "13912345678",
        "buyer",
        "物资供应中心",
        "是",
        "物资供应中心第一党支部",
        "day",
        "",
        "2016-07-01",
    ],
    [
        "E00018",
        "司马晓岚",
        "139-8765-4321",
        "warehouse_keeper",
        "麻家梁仓库",
        "false",
        "",
        "four_crew_three_shift",
        "B",
        "2019-03-15",
    ],
    [
        "E00019",
        "诸葛文博",
        "+86 137 1111 2222",
        "auditor",
        "审计部",
        "true",
        "审计部党支部",
        "三班倒",
        "A",
        "2021-09-01",
    ],
]
NAMES = ["欧阳明远", "司马晓岚", "诸葛文博", "上官雨桐", "慕容子涵"]
PHONES = ["13912345678", "139-8765-4321", "+86 137 1111 2222", "13655554444", "13766667777"]
BRANCHES = ["物资供应中心第一党支部", "审计部党支部"]

FAULT_ROWS = {
    "name": ["E00020", "", "13655554444", "buyer", "x", "是", "", "day", "", "2020-01-01"],
    "party_member": [
        "E00021",
        "上官雨桐",
        "13655554444",
        "buyer",
        "x",
        "maybe",
        "",
        "day",
        "",
        "2020-01-01",
    ],
    "shift_pattern": [
        "E00022",
        "慕容子涵",
        "13766667777",
        "buyer",
        "x",
        "否",
        "",
        "night",
        "",
        "2020-01-01",
    ],
    "joined_on": [
        "E00023",
        "慕容子涵",
        "13766667777",
        "buyer",
        "x",
        "否",
        "",
        "day",
        "",
        "01/02/2020",
    ],
    "fields": ["E00024", "慕容子涵", "13766667777"],
    "duplicate": GOOD_ROWS[0],
}


def write_csv(path: Path, rows: list[list[str]], *, bom: bool = False) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def quarantine_reasons(store: Store) -> dict[int, str]:
    frame = store.query("SELECT source_line, reason FROM quarantine ORDER BY source_line")
    return dict(zip(frame["source_line"].tolist(), frame["reason"].tolist(), strict=True))


def test_members_are_stored_without_plaintext(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    path = write_csv(tmp_path / "members.csv", [ENGLISH_HEADER, *GOOD_ROWS, *FAULT_ROWS.values()])

    report = ingest_file(store, personal, "members", path)
    store.checkpoint()

    assert report.records_in == 3 + len(FAULT_ROWS) == report.accepted + report.quarantined
    assert report.accepted == 3
    reasons = quarantine_reasons(store)
    for line_no, key_word in enumerate(FAULT_ROWS, start=5):
        assert key_word in reasons[line_no], (key_word, reasons[line_no])
    for reason in reasons.values():
        assert not any(value in reason for value in [*NAMES, *PHONES, "E00017", "maybe"])
    assert plaintext_present(store.path, [*NAMES, *PHONES, *BRANCHES]) == []

    rows = store.query("SELECT * FROM members").set_index("member_key")
    first = rows.loc[personal.member_key("E00017")]

    def decrypt(token: object, *, column: str) -> str | None:
        return personal.cipher.decrypt(cast(bytes, token), column=column)

    assert decrypt(first["name_enc"], column="name_enc") == "欧阳明远"
    assert decrypt(first["employee_no_enc"], column="employee_no_enc") == "E00017"
    assert decrypt(first["party_member_enc"], column="party_member_enc") == "true"
    assert first["branch_key"] == personal.pseudonymiser.pseudonym("branch", BRANCHES[0])
    second = rows.loc[personal.member_key("E00018")]
    assert decrypt(second["party_member_enc"], column="party_member_enc") == "false"
    assert pd.isna(second["branch_key"])
    assert pd.isna(second["party_branch_enc"])
    assert rows.loc[personal.member_key("E00019"), "shift_pattern"] == "three_shift"


def test_chinese_headers_give_the_same_members(tmp_path: Path, personal: PersonalData) -> None:
    english = write_csv(tmp_path / "en.csv", [ENGLISH_HEADER, *GOOD_ROWS])
    chinese = write_csv(tmp_path / "zh.csv", [CHINESE_HEADER, *GOOD_ROWS], bom=True)
    plain_columns = [
        "member_key",
        "branch_key",
        "role",
        "unit",
        "shift_pattern",
        "crew",
        "joined_on",
    ]

    frames = []
    for path in (english, chinese):
        (chunk,) = list(read_members(path, personal))
        frames.append(chunk.tables["members"][plain_columns].reset_index(drop=True))

    pd.testing.assert_frame_equal(frames[0], frames[1])
    assert len(frames[0]) == 3


def test_reingest_adds_nothing(tmp_path: Path, store: Store, personal: PersonalData) -> None:
    path = write_csv(tmp_path / "members.csv", [ENGLISH_HEADER, *GOOD_ROWS, FAULT_ROWS["fields"]])

    first = ingest_file(store, personal, "members", path)
    counts = (store.count("members"), store.count("quarantine"))
    second = ingest_file(store, personal, "members", path)

    assert (first.new_rows, second.new_rows) == (3, 0)
    assert (store.count("members"), store.count("quarantine")) == counts == (3, 1)
