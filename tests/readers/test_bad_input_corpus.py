"""A bad-input corpus for every reader, generated here with known counts of good and bad records.

Each case writes one file mixing good records (odd but valid Unicode, a 1 MB field) with bad
ones (bytes that do not decode, a lone surrogate, wrong types, a duplicate, a wrong number of
fields, a truncated last line) and blank lines (not records), ingests it into a real
encrypted store, and checks that ``in = accepted + quarantined`` with the counts known in
advance and that every good record is in the store under its key.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from core.security import PersonalData
from ingest.run import ingest_file
from store.database import Store

HUGE = "长" * ((1 << 20) // 3)  # a 1 MiB field in UTF-8 (3 bytes a character)
ODD_WORD = (
    "A\u200bB\u202eC\u0301😀ＡＢＣ１２３全角"  # zero-width, bidi, combining, emoji, full-width
)
ODD = f"{ODD_WORD} {ODD_WORD}\u3000{ODD_WORD}"
LONE_SURROGATE_UTF8 = b"\xed\xa0\x80"  # U+D800 encoded as if it were a character
NOT_GB18030 = b"\xff"


@dataclass
class Corpus:
    path: Path
    good: int
    bad: int
    keys: set[str]  # the good records' keys as ``key_sql`` returns them
    key_sql: str


def _csv_line(row: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(row)
    return buffer.getvalue()


def _csv_corpus(
    path: Path,
    encoding: str,
    header: list[str],
    good: list[list[str]],
    bad_typed: list[list[str]],
    key_sql: str,
    keys: set[str],
) -> Corpus:
    """Good rows, then the rows with wrong values, a duplicate, an extra field, a line that
    does not decode, blank lines, and a last line cut inside a quoted field."""
    lines = [_csv_line(header).encode(encoding), b"\r\n"]
    lines += [_csv_line(row).encode(encoding) for row in good]
    lines += [b"   \r\n", b",,,\r\n"]
    lines += [_csv_line(row).encode(encoding) for row in bad_typed]
    lines.append(_csv_line(good[0]).encode(encoding))  # duplicate key
    lines.append(_csv_line([*good[1], "extra"]).encode(encoding))  # one field too many
    bad_bytes = NOT_GB18030 if encoding == "gb18030" else LONE_SURROGATE_UTF8
    lines.append(_csv_line(["X1", "y"]).encode(encoding).replace(b"y", bad_bytes))
    lines.append(b'"cut-off,' + ",".join(header[1:]).encode(encoding))  # no closing quote, no EOL
    path.write_bytes(b"".join(lines))
    return Corpus(path, len(good), len(bad_typed) + 4, keys, key_sql)


def members(tmp_path: Path, encoding: str, personal: PersonalData) -> Corpus:
    header = ["工号", "姓名", "手机", "部门", "是否党员", "班制", "入职日期", " 备注\u3000"]
    good = [
        ["E001", "张三", "138 0013 8000", HUGE, "是", "三班倒", "2020-01-02", ""],
        ["E002", ODD, "", "综采一队", "否", "", "", "x"],
        ["E003", "李四", "+86 139-0000-0000", "", "", "day", "2019-12-31", ""],
    ]
    bad = [
        ["E101", "王五", "not a phone", "", "", "", "", ""],
        ["E102", "赵六", "", "", "maybe", "", "", ""],
        ["E103", "钱七", "", "", "", "", "0001-01-01", ""],
    ]
    keys = {personal.member_key(row[0]) for row in good}
    return _csv_corpus(tmp_path / "members.csv", encoding, header, good, bad, "member_key", keys)


def supplier_register(tmp_path: Path, encoding: str, personal: PersonalData) -> Corpus:
    del personal
    header = ["供应商编码", "企业名称", "信用代码", "注册资本（万元）", "成立日期", "地址", "备注"]
    good = [
        [
            "S1",
            "鄂尔多斯市恒泰矿山机械有限公司",
            "91150602MA0N1234XK",
            "500",
            "2012-05-18",
            HUGE,
            "",
        ],
        ["S2", ODD, "", "", "", "山西省太原市", "长期"],
        ["S3", "晋源输送带", "", "0", "1999-01-01", "", ""],
    ]
    bad = [
        ["S101", "甲", "", "five hundred", "", "", ""],
        ["S102", "乙", "not-a-credit-code", "", "", "", ""],
        ["S103", "丙", "", "-1", "", "", ""],
        ["S104", "丁", "", "", "9999-01-01", "", ""],
    ]
    keys = {row[0] for row in good}
    path = tmp_path / "suppliers.csv"
    return _csv_corpus(path, encoding, header, good, bad, "supplier_id", keys)


def supplier_certifications(tmp_path: Path, encoding: str, personal: PersonalData) -> Corpus:
    del personal
    header = ["供应商代码", "证书类型", "证书编号", "适用范围", "发证日期", "有效期至"]
    good = [
        ["S1", "ISO 14001", "C-1", HUGE, "2022-06-01", "2025-05-31"],
        ["S1", "MA", "C-2", ODD, "", ""],
    ]
    bad = [
        ["S2", "ISO9001", "C-3", "", "2024-01-01", "2023-01-01"],
        ["S2", "ISO9001", "", "", "", ""],
        ["S2", "ISO9001", "C-4", "", "2024-13-01", ""],
    ]
    keys = {"S1/ISO14001/C-1", "S1/MA/C-2"}
    key_sql = "supplier_id || '/' || cert_type || '/' || cert_no"
    path = tmp_path / "certifications.csv"
    return _csv_corpus(path, encoding, header, good, bad, key_sql, keys)


def supplier_events(tmp_path: Path, encoding: str, personal: PersonalData) -> Corpus:
    del personal
    header = ["事件编号", "供应商编码", "事件类型", "发生日期", "严重程度", "死亡人数", "描述"]
    good = [
        ["V1", "S1", "环保处罚", "2023-04-11", "严重", "", HUGE],
        ["V2", "S2", "safety_accident", "2024-02-03", "较大", "3", ODD],
    ]
    bad = [
        ["V101", "S1", "alien_invasion", "2023-01-01", "", "", ""],
        ["V102", "S1", "env_penalty", "", "", "", ""],
        ["V103", "S1", "env_penalty", "2023-01-01", "", "2", ""],
        ["V104", "S1", "safety_accident", "2023-01-01", "一般", "two", ""],
    ]
    keys = {"V1", "V2"}
    path = tmp_path / "events.csv"
    return _csv_corpus(path, encoding, header, good, bad, "event_id", keys)


def catalogue(tmp_path: Path, encoding: str, personal: PersonalData) -> Corpus:
    del personal
    header = ["课程编号", "课程名称", "知识点", "形式", "时长（分钟）", "难度", "必学月份"]
    good = [
        ["C1", HUGE, "KP01|KP02", "video", "12.5", "0.3", "2025-03"],
        ["C2", ODD, "", "quiz", "5", "", ""],
    ]
    bad = [
        ["C101", "x", "", "hologram", "5", "", ""],
        ["C102", "x", "", "video", "-5", "", ""],
        ["C103", "x", "", "video", "5", "2", ""],
        ["C104", "x", "", "video", "5", "", "2025-13"],
    ]
    path = tmp_path / "catalogue.csv"
    return _csv_corpus(path, encoding, header, good, bad, "content_id", {"C1", "C2"})


def knowledge_points(tmp_path: Path, encoding: str, personal: PersonalData) -> Corpus:
    del personal
    header = ["知识点编码", "中文名称", "英文名称", "领域"]
    good = [["KP01", "顶板管理", HUGE, "safety"], ["KP02", ODD, "", ""]]
    bad = [["KP101", "", "", "safety"]]
    path = tmp_path / "knowledge_points.csv"
    return _csv_corpus(path, encoding, header, good, bad, "kp_id", {"KP01", "KP02"})


def audit_outcomes(tmp_path: Path, encoding: str, personal: PersonalData) -> Corpus:
    del personal
    header = ["OCID", "Finding", "Scheme", "Confirmed_At"]
    huge_ocid = "ocds-" + "9" * (1 << 20)
    good = [
        [huge_ocid, "confirmed", "bid_rigging", "2024-05-01"],
        ["ocds-" + ODD, "dismissed", "", "2024-05-02"],
    ]
    bad = [
        ["ocds-3", "maybe", "", "2024-05-01"],
        ["ocds-4", "confirmed", "", "2024-05-01"],
        ["ocds-5", "dismissed", "", "05/01/2024"],
        ["ocds-6", "dismissed", "", "2201-01-01"],
    ]
    keys = {row[0] for row in good}
    path = tmp_path / "audit.csv"
    return _csv_corpus(path, encoding, header, good, bad, "ocid", keys)


CSV_CASES: dict[str, Callable[[Path, str, PersonalData], Corpus]] = {
    "members": members,
    "supplier_register": supplier_register,
    "supplier_certifications": supplier_certifications,
    "supplier_events": supplier_events,
    "catalogue": catalogue,
    "knowledge_points": knowledge_points,
    "audit_outcomes": audit_outcomes,
}


def _json_corpus(
    path: Path, good: list[dict], bad: list[bytes], key_sql: str, keys: set[str]
) -> Corpus:
    """Good objects, blank lines, the bad lines given, a line that does not decode, a lone
    surrogate escape, malformed JSON and a truncated last line."""
    lines = [orjson.dumps(record) for record in good] + [b"", b"   "] + bad
    lines += [b'{"id": "' + LONE_SURROGATE_UTF8 + b'"}', b'{"id": "\\ud800"}', b"{not json"]
    path.write_bytes(b"\n".join(lines) + b"\n" + orjson.dumps(good[0])[:-7])
    return Corpus(path, len(good), len(bad) + 4, keys, key_sql)


def _release(ocid: str) -> dict:
    return {"ocid": ocid, "id": f"{ocid}-r", "date": "2024-03-01T00:00:00Z", "tag": ["compiled"]}


def ocds(tmp_path: Path) -> Corpus:
    bid = {"id": "b1", "value": {"amount": 10.0, "currency": "CNY"}}
    good = [
        {**_release("ocds-1"), "tender": {"title": HUGE}, "bids": {"details": [bid]}},
        {**_release("ocds-" + ODD), "buyer": {"id": "b", "name": ODD}},
        {**_release("ocds-3"), "bids": {"details": [{"value": {"amount": "1,5"}}]}},
    ]
    negative = {"id": None, "value": {"amount": -5.0, "currency": "CNY"}}
    bad = [
        orjson.dumps({**_release("x"), "ocid": 12345}),
        orjson.dumps({**_release("ocds-neg"), "bids": {"details": [negative]}}),
        orjson.dumps({**_release("ocds-amt"), "tender": {"value": {"amount": "lots"}}}),
        orjson.dumps({**_release("ocds-date"), "date": "0001-01-01T00:00:00Z"}),
        orjson.dumps({**_release("ocds-type"), "bids": ["not", "an", "object"]}),
        b"[1, 2, 3]",
    ]
    keys = {record["ocid"] for record in good}
    return _json_corpus(tmp_path / "ocds.jsonl", good, bad, "ocid", keys)


def _statement(number: int, **fields: object) -> dict:
    return {
        "id": str(uuid.UUID(int=number)),
        "actor": {"objectType": "Agent", "account": {"homePage": "https://x", "name": "E001"}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"objectType": "Activity", "id": "https://x/content/C0001"},
        "timestamp": "2025-03-01T08:00:00+08:00",
        **fields,
    }


def xapi(tmp_path: Path) -> Corpus:
    good = [
        _statement(1, context={"extensions": {"https://x/e": HUGE}}),
        _statement(2, object={"objectType": "Activity", "id": f"https://x/{ODD_WORD}"}),
        _statement(3, result={"score": {"scaled": 0.5}, "duration": "PT1M"}),
    ]
    bad = [
        orjson.dumps(good[1]),  # duplicate id
        orjson.dumps(_statement(11, verb={"id": "http://adlnet.gov/expapi/verbs/voided"})),
        orjson.dumps(_statement(12, timestamp="9999-01-01T00:00:00Z")),
        orjson.dumps(_statement(13, result={"score": {"scaled": "high"}})),
        orjson.dumps(_statement(14, actor={"objectType": "Group", "member": []})),
        b'"just a string"',
    ]
    keys = {statement["id"] for statement in good}
    return _json_corpus(tmp_path / "statements.jsonl", good, bad, "statement_id", keys)


def catalogue_json_lines(tmp_path: Path) -> Corpus:
    good = [
        {"content_id": "C1", "title": HUGE, "format": "video", "minutes": 3},
        {"content_id": "C2", "title": ODD, "format": "case", "minutes": 1, "knowledge_points": []},
    ]
    bad = [
        orjson.dumps({"content_id": "C101", "title": "x", "format": "video", "minutes": "long"}),
        orjson.dumps({"content_id": "C102", "title": "x", "format": "video", "minutes": True}),
        orjson.dumps(good[0]),  # duplicate
    ]
    return _json_corpus(tmp_path / "catalogue.jsonl", good, bad, "content_id", {"C1", "C2"})


JSON_CASES: dict[str, tuple[str, Callable[[Path], Corpus]]] = {
    "ocds": ("ocds", ocds),
    "xapi": ("xapi", xapi),
    "catalogue_json_lines": ("catalogue", catalogue_json_lines),
}
TABLE_OF_KIND = {
    "members": "members",
    "supplier_register": "suppliers",
    "supplier_certifications": "supplier_certifications",
    "supplier_events": "supplier_events",
    "catalogue": "content",
    "knowledge_points": "knowledge_points",
    "audit_outcomes": "audit_outcomes",
    "ocds": "processes",
    "xapi": "statements",
}


def _check(store: Store, personal: PersonalData, kind: str, corpus: Corpus) -> None:
    report = ingest_file(store, personal, kind, corpus.path)
    assert report.records_in == report.accepted + report.quarantined
    assert (report.accepted, report.quarantined) == (corpus.good, corpus.bad), report
    table = TABLE_OF_KIND[kind]
    stored = store.query(f'SELECT {corpus.key_sql} AS k FROM "{table}"')["k"].tolist()
    assert set(stored) == corpus.keys
    assert store.count("quarantine") == corpus.bad


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
@pytest.mark.parametrize("kind", sorted(CSV_CASES))
def test_csv_corpus(
    kind: str, encoding: str, tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    _check(store, personal, kind, CSV_CASES[kind](tmp_path, encoding, personal))


@pytest.mark.parametrize("case", sorted(JSON_CASES))
def test_json_lines_corpus(case: str, tmp_path: Path, store: Store, personal: PersonalData) -> None:
    kind, build = JSON_CASES[case]
    _check(store, personal, kind, build(tmp_path))


@pytest.mark.parametrize("kind", sorted(CSV_CASES))
def test_a_file_in_no_known_encoding_is_one_quarantined_record(
    kind: str, tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(bytes(range(256)) * 64)
    report = ingest_file(store, personal, kind, path)
    assert (report.records_in, report.accepted, report.quarantined) == (1, 0, 1)
    assert store.query("SELECT source_line FROM quarantine")["source_line"].tolist() == [0]
