"""Content catalogue (CSV, JSON array, JSON Lines) and knowledge points."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path

import orjson
import pandas as pd
import pytest

from core.security import PersonalData
from ingest.run import ingest_file
from store.database import Store

GOOD_ITEMS = [
    {
        "content_id": "C0001",
        "title": "《中国共产党纪律处分条例》解读",
        "knowledge_points": ["KP01", "KP02"],
        "format": "video",
        "minutes": 12,
        "difficulty": 0.3,
        "mandatory_month": "2025-04",
        "theme": "纪律教育",
        "published_on": "2025-03-20",
    },
    {
        "content_id": "C0002",
        "title": "招标投标法第三十二条：串通投标的认定",
        "knowledge_points": ["KP10"],
        "format": "case",
        "minutes": 8.5,
        "difficulty": 0.6,
        "mandatory_month": "",
        "theme": "采购合规",
        "published_on": "2025-01-05",
    },
]

FAULTS = {
    "format": {**GOOD_ITEMS[0], "content_id": "C0101", "format": "podcast"},
    "minutes": {**GOOD_ITEMS[0], "content_id": "C0102", "minutes": 0},
    "difficulty": {**GOOD_ITEMS[0], "content_id": "C0103", "difficulty": 1.5},
    "mandatory_month": {**GOOD_ITEMS[0], "content_id": "C0104", "mandatory_month": "2025-13"},
    "title": {**GOOD_ITEMS[0], "content_id": "C0105", "title": ""},
    "published_on": {**GOOD_ITEMS[0], "content_id": "C0106", "published_on": "20/03/2025"},
    "duplicate": {**GOOD_ITEMS[0]},
}


def quarantine_reasons(store: Store) -> dict[int, str]:
    frame = store.query("SELECT source_line, reason FROM quarantine ORDER BY source_line")
    return dict(zip(frame["source_line"].tolist(), frame["reason"].tolist(), strict=True))


def write_csv(path: Path, rows: Iterable[Sequence[object]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def as_csv_rows(items: list[dict]) -> list[list[object]]:
    header = list(GOOD_ITEMS[0])
    rows: list[list[object]] = [list(header)]
    for item in items:
        rows.append(["|".join(item[k]) if k == "knowledge_points" else item[k] for k in header])
    return rows


def test_json_array_catalogue_with_faults(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    items = [*GOOD_ITEMS, *FAULTS.values()]
    path = tmp_path / "catalogue.json"
    path.write_bytes(orjson.dumps(items, option=orjson.OPT_INDENT_2))

    report = ingest_file(store, personal, "catalogue", path)

    assert report.records_in == len(items) == report.accepted + report.quarantined
    assert report.accepted == 2
    reasons = quarantine_reasons(store)
    for position, key_word in enumerate(FAULTS, start=3):
        assert key_word in reasons[position], (key_word, reasons[position])
    row = store.query("SELECT * FROM content WHERE content_id = 'C0001'").iloc[0]
    assert list(row["knowledge_points"]) == ["KP01", "KP02"]
    assert (row["minutes"], row["difficulty"], row["mandatory_month"]) == (12.0, 0.3, "2025-04")
    assert pd.Timestamp(row["published_on"]).date() == date(2025, 3, 20)
    empty_month = store.query("SELECT mandatory_month FROM content WHERE content_id = 'C0002'")
    assert empty_month["mandatory_month"].isna().all()


def test_csv_and_json_lines_give_the_same_rows(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    csv_path = write_csv(tmp_path / "catalogue.csv", as_csv_rows(GOOD_ITEMS))
    lines_path = tmp_path / "catalogue.jsonl"
    lines_path.write_bytes(b"\n".join(orjson.dumps(item) for item in GOOD_ITEMS) + b"\n")
    columns = "content_id, title, knowledge_points, format, minutes, difficulty, theme"

    ingest_file(store, personal, "catalogue", csv_path)
    from_csv = store.query(f"SELECT {columns} FROM content ORDER BY content_id")
    store.connection.execute("DELETE FROM content")
    report = ingest_file(store, personal, "catalogue", lines_path)
    from_lines = store.query(f"SELECT {columns} FROM content ORDER BY content_id")

    assert report.accepted == 2
    assert from_csv.astype(str).equals(from_lines.astype(str))


def test_csv_row_with_wrong_number_of_fields_is_quarantined(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    rows = as_csv_rows(GOOD_ITEMS)
    rows.insert(2, ["C0009", "too short"])
    path = write_csv(tmp_path / "catalogue.csv", rows)

    report = ingest_file(store, personal, "catalogue", path)

    assert (report.records_in, report.accepted, report.quarantined) == (3, 2, 1)
    assert "fields" in quarantine_reasons(store)[3]


def test_malformed_json_array_is_one_quarantined_record(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    path = tmp_path / "catalogue.json"
    path.write_text('[{"content_id": "C0001",', encoding="utf-8")

    report = ingest_file(store, personal, "catalogue", path)

    assert (report.records_in, report.quarantined) == (1, 1)
    assert "malformed JSON" in quarantine_reasons(store)[1]


def test_reingest_adds_nothing(tmp_path: Path, store: Store, personal: PersonalData) -> None:
    path = tmp_path / "catalogue.json"
    path.write_bytes(orjson.dumps([*GOOD_ITEMS, FAULTS["format"]]))

    first = ingest_file(store, personal, "catalogue", path)
    counts = (store.count("content"), store.count("quarantine"))
    second = ingest_file(store, personal, "catalogue", path)

    assert (first.new_rows, second.new_rows) == (2, 0)
    assert (store.count("content"), store.count("quarantine")) == counts


def test_knowledge_points(tmp_path: Path, store: Store, personal: PersonalData) -> None:
    path = write_csv(
        tmp_path / "knowledge_points.csv",
        [
            ["kp_id", "name_zh", "name_en", "domain"],
            ["KP01", "党章党规", "Party Constitution and rules", "party"],
            ["KP10", "串通投标识别", "Recognising bid rigging", "procurement_law"],
            ["KP11", "", "", "procurement_law"],
            ["", "无编号", "no id", "x"],
            ["KP01", "重复", "again", "party"],
        ],
    )

    report = ingest_file(store, personal, "knowledge_points", path)
    again = ingest_file(store, personal, "knowledge_points", path)

    assert (report.records_in, report.accepted, report.quarantined) == (5, 2, 3)
    reasons = quarantine_reasons(store)
    assert "name" in reasons[4]
    assert "kp_id" in reasons[5]
    assert "duplicate" in reasons[6]
    assert again.new_rows == 0
    assert store.count("knowledge_points") == 2


def test_chinese_catalogue_headers(tmp_path: Path, store: Store, personal: PersonalData) -> None:
    rows = as_csv_rows(GOOD_ITEMS[:1])
    rows[0] = [
        "内容编号",
        "标题",
        "知识点",
        "形式",
        "时长（分钟）",
        "难度",
        "必学月份",
        "主题",
        "发布日期",
    ]
    path = write_csv(tmp_path / "catalogue.csv", rows)

    report = ingest_file(store, personal, "catalogue", path)

    assert report.accepted == 1
    assert store.query("SELECT minutes FROM content")["minutes"][0] == pytest.approx(12.0)
