"""Supplier register, certifications and events: column maps, validation, no plaintext."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import cast

import pandas as pd
import pytest

from core.security import PersonalData
from ingest.readers.suppliers import (
    read_supplier_certifications,
    read_supplier_events,
    read_supplier_register,
)
from ingest.run import ingest_file
from lodestar.cli import main
from store.database import Store, plaintext_present

REGISTER_EN = [
    "supplier_id", "name", "credit_code", "legal_representative", "phone", "address",
    "bank_account", "categories", "ownership_type", "region", "registered_capital_cny",
    "founded_on", "size_class", "tax_credit_grade", "reported_emission_intensity",
    "registered_on",
]  # fmt: skip
REGISTER_ZH = [
    "供应商编号", "供应商名称", "统一社会信用代码", "法定代表人", "联系电话", "注册地址",
    "开户银行账号", "供货类别", "企业性质", "所在地区", "注册资本（万元）", "成立日期",
    "企业规模", "纳税信用等级", "碳排放强度", "入库日期",
]  # fmt: skip
# rows in English-header form (capital in CNY) and Chinese-header form (capital in 万元)
SUPPLIERS = [
    ("S0001", "鄂尔多斯市恒泰矿山机械有限公司", "91150602MA0N1234XK", "贺兰山", "138-0013-8000",
     "内蒙古鄂尔多斯市东胜区铁西路18号", "6228 4801 2345 6789 012", "液压支架|采煤机截齿",
     "民营", "内蒙古", 5_000_000, 500, "2012-05-18", "中型", "A", "0.42", "2021-03-01"),
    ("S0002", "山西晋源输送带制造有限公司", "", "乌兰图雅", "13800138000",
     "山西省太原市小店区龙城大街99号", "", "输送带、托辊；滚筒", "国有", "山西",
     "", "", "2008-11-02", "大型", "b", "", "2022-07-15"),
]  # fmt: skip
PERSONAL_VALUES = ["贺兰山", "乌兰图雅", "138-0013-8000", "13800138000", "6228 4801 2345 6789 012"]


def english_row(s: tuple) -> list[object]:
    return [*s[:10], s[10], *s[12:]]


def chinese_row(s: tuple) -> list[object]:
    return [*s[:10], s[11], *s[12:]]


def write_csv(path: Path, rows: Iterable[Sequence[object]], *, bom: bool = False) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def quarantine_reasons(store: Store) -> dict[int, str]:
    frame = store.query("SELECT source_line, reason FROM quarantine ORDER BY source_line")
    return dict(zip(frame["source_line"].tolist(), frame["reason"].tolist(), strict=True))


def good_register(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "register.csv", [REGISTER_EN, *map(english_row, SUPPLIERS)])


def test_register_is_stored_with_fingerprints_and_no_plaintext(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    report = ingest_file(store, personal, "supplier_register", good_register(tmp_path))
    store.checkpoint()

    assert (report.records_in, report.accepted, report.new_rows) == (2, 2, 2)
    assert plaintext_present(store.path, PERSONAL_VALUES) == []
    rows = store.query("SELECT * FROM suppliers ORDER BY supplier_id").set_index("supplier_id")
    first, second = rows.loc["S0001"], rows.loc["S0002"]
    assert first["phone_fingerprint"] == second["phone_fingerprint"]  # same number, two spellings
    assert first["phone_fingerprint"] == personal.pseudonymiser.fingerprint("phone", "13800138000")
    assert first["legal_representative_fingerprint"] == personal.pseudonymiser.fingerprint(
        "person", "贺兰山"
    )
    assert personal.cipher.decrypt(
        cast(bytes, first["bank_account_enc"]), column="bank_account_enc"
    ) == ("6228 4801 2345 6789 012")
    assert pd.isna(second["bank_account_fingerprint"])
    assert first["address_fingerprint"] == personal.pseudonymiser.fingerprint(
        "address", "内蒙古鄂尔多斯市东胜区铁西路18号"
    )
    assert list(first["categories"]) == ["液压支架", "采煤机截齿"]
    assert list(second["categories"]) == ["输送带", "托辊", "滚筒"]
    assert first["registered_capital_cny"] == 5_000_000
    assert (first["size_class"], second["size_class"]) == ("medium", "large")
    assert second["tax_credit_grade"] == "B"
    assert first["reported_emission_intensity"] == pytest.approx(0.42)


def test_chinese_headers_parse_identically_to_english(
    tmp_path: Path, personal: PersonalData
) -> None:
    english = good_register(tmp_path)
    chinese = write_csv(
        tmp_path / "register_zh.csv", [REGISTER_ZH, *map(chinese_row, SUPPLIERS)], bom=True
    )
    frames = []
    for path in (english, chinese):
        (chunk,) = list(read_supplier_register(path, personal))
        frame = chunk.tables["suppliers"]
        encrypted = [c for c in frame.columns if c.endswith("_enc")]
        frames.append(frame.drop(columns=[*encrypted, "source_file", "ingested_at"]))

    pd.testing.assert_frame_equal(frames[0], frames[1])
    assert frames[1]["registered_capital_cny"].tolist()[0] == 5_000_000  # 500 万元


def test_register_faults_are_quarantined(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    base = english_row(SUPPLIERS[0])
    index = {name: i for i, name in enumerate(REGISTER_EN)}

    def variant(supplier_id: str, **changes: object) -> list[object]:
        row = list(base)
        row[index["supplier_id"]] = supplier_id
        for name, value in changes.items():
            row[index[name]] = value
        return row

    faults = {
        "fields": base[:5],
        "supplier_id": variant(""),
        "tax_credit_grade": variant("S0103", tax_credit_grade="AA"),
        "registered_capital_cny": variant("S0104", registered_capital_cny="-5"),
        "size_class": variant("S0105", size_class="巨型"),
        "credit_code": variant("S0106", credit_code="12345"),
        "founded_on": variant("S0107", founded_on="2012/05/18"),
        "reported_emission_intensity": variant("S0108", reported_emission_intensity="nan"),
        "duplicate": base,
    }
    path = write_csv(tmp_path / "register.csv", [REGISTER_EN, base, *faults.values()])

    report = ingest_file(store, personal, "supplier_register", path)

    assert report.records_in == 1 + len(faults) == report.accepted + report.quarantined
    assert report.accepted == 1
    reasons = quarantine_reasons(store)
    for line_no, key_word in enumerate(faults, start=3):
        assert key_word in reasons[line_no], (key_word, reasons[line_no])
    assert not any(v in r for r in reasons.values() for v in PERSONAL_VALUES)
    store.checkpoint()
    assert plaintext_present(store.path, PERSONAL_VALUES) == []


def test_missing_required_column_quarantines_the_file_as_one_record(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    path = write_csv(tmp_path / "register.csv", [["name", "phone"], ["甲公司", "1"], ["乙", "2"]])
    report = ingest_file(store, personal, "supplier_register", path)
    assert (report.records_in, report.accepted, report.quarantined) == (1, 0, 1)
    (reason,) = quarantine_reasons(store).values()
    assert "supplier_id" in reason
    assert list(quarantine_reasons(store)) == [0]


# what Excel on Chinese Windows exports: synonyms of the documented headers, GB18030 bytes,
# CRLF, a full-width space and stray spaces in a header, a required-marker star, a remark column
REGISTER_SYNONYMS = [
    "供应商编码", "*企业名称", "信用代码", "法人代表", "手机", "地址", "开户行账号",
    "供货类别", "企业性质", "所在地区", "注册资本（万元）", "成立日期", "企业规模",
    "纳税信用等级", "碳排放强度", "入库日期\u3000", "  备注 ",
]  # fmt: skip


def synonym_register(path: Path, encoding: str) -> Path:
    rows: list[list[object]] = [
        list(REGISTER_SYNONYMS),
        *([*chinese_row(s), "长期合作"] for s in SUPPLIERS),
    ]
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


@pytest.mark.parametrize("encoding", ["gb18030", "gbk", "utf-8-sig", "utf-8"])
def test_register_in_excel_encodings_with_synonym_headers_is_read(
    tmp_path: Path, store: Store, personal: PersonalData, encoding: str
) -> None:
    path = synonym_register(tmp_path / "供应商名录.csv", encoding)

    report = ingest_file(store, personal, "supplier_register", path)

    assert (report.records_in, report.accepted, report.quarantined) == (2, 2, 0)
    expected = {"gb18030": "GB18030", "gbk": "GB18030", "utf-8-sig": "UTF-8 with BOM"}
    assert report.encoding == expected.get(encoding, "UTF-8")
    assert report.warnings == {"column not mapped, its values are not stored: '备注'": 1}
    assert "warning: column not mapped, its values are not stored: '备注'" in str(report)
    assert f"encoding: {report.encoding}" in str(report)
    rows = store.query("SELECT * FROM suppliers ORDER BY supplier_id").set_index("supplier_id")
    assert rows.loc["S0001", "name"] == "鄂尔多斯市恒泰矿山机械有限公司"
    assert rows.loc["S0001", "credit_code"] == "91150602MA0N1234XK"
    assert rows.loc["S0002", "address"] == "山西省太原市小店区龙城大街99号"
    assert str(rows.loc["S0001", "registered_on"])[:10] == "2021-03-01"
    assert rows.loc["S0001", "legal_representative_fingerprint"] == (
        personal.pseudonymiser.fingerprint("person", "贺兰山")
    )


def test_gb18030_register_keeps_good_rows_around_a_cut_line(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    good = synonym_register(tmp_path / "good.csv", "gb18030").read_bytes().split(b"\r\n")
    cut = "S0003,山西".encode("gb18030")[:-1]  # the last character cut in half
    path = tmp_path / "register.csv"
    path.write_bytes(b"\r\n".join([good[0], good[1], cut, good[2]]) + b"\r\n")

    report = ingest_file(store, personal, "supplier_register", path)

    assert report.encoding == "GB18030"
    assert (report.records_in, report.accepted, report.quarantined) == (3, 2, 1)
    assert quarantine_reasons(store)[3] == "not GB18030"


def test_two_headers_for_one_column_keep_the_first_and_say_so(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    path = write_csv(
        tmp_path / "register.csv",
        [["供应商编号", "单位名称", "联系电话", "手机"], ["S1", "甲公司", "13800138000", "139"]],
    )
    report = ingest_file(store, personal, "supplier_register", path)
    assert report.accepted == 1
    assert report.warnings == {"column '手机' not read: phone is read from '联系电话'": 1}
    stored = store.query("SELECT phone_fingerprint FROM suppliers").iloc[0, 0]
    assert stored == personal.pseudonymiser.fingerprint("phone", "13800138000")


def test_an_excel_workbook_is_quarantined_as_one_record(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    path = tmp_path / "register.csv"
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 8)
    report = ingest_file(store, personal, "supplier_register", path)
    assert (report.records_in, report.accepted, report.quarantined) == (1, 0, 1)
    assert "Excel .xlsx" in quarantine_reasons(store)[0]


def test_cli_prints_the_encoding_and_the_unmapped_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = ["--data-dir", str(tmp_path / "data"), "--key-file", str(tmp_path / "k.json")]
    assert main(["keys", "init", *options]) == 0
    path = synonym_register(tmp_path / "register.csv", "gb18030")
    capsys.readouterr()
    assert main(["ingest", "--kind", "supplier_register", str(path), "--quiet", *options]) == 0
    output = capsys.readouterr().out
    assert "encoding: GB18030" in output
    assert "column not mapped, its values are not stored: '备注'" in output


def test_register_reingest_adds_nothing(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    path = good_register(tmp_path)
    first = ingest_file(store, personal, "supplier_register", path)
    second = ingest_file(store, personal, "supplier_register", path)
    assert (first.new_rows, second.new_rows) == (2, 0)
    assert store.count("suppliers") == 2


CERT_EN = [
    "supplier_id", "cert_type", "cert_no", "category", "valid_from", "valid_to",
    "evidence_document",
]  # fmt: skip
CERT_ZH = ["供应商编号", "证书类型", "证书编号", "适用类别", "发证日期", "有效期至", "证明文件"]
CERTS = [
    ["S0001", "ISO 14001", "04421E30012R1M", "", "2022-06-01", "2025-05-31", "DOC-7781"],
    ["S0001", "MA", "MAH110023", "液压支架", "2021-01-10", "2026-01-09", ""],
]


def test_certifications(tmp_path: Path, store: Store, personal: PersonalData) -> None:
    faults = {
        "valid_to": ["S0002", "ISO9001", "Q1", "", "2024-01-01", "2023-01-01", "D"],
        "cert_no": ["S0002", "ISO9001", "", "", "2024-01-01", "2027-01-01", "D"],
        "fields": ["S0002", "ISO9001"],
        "duplicate": CERTS[1],
    }
    path = write_csv(tmp_path / "certifications.csv", [CERT_EN, *CERTS, *faults.values()])

    report = ingest_file(store, personal, "supplier_certifications", path)
    again = ingest_file(store, personal, "supplier_certifications", path)

    assert (report.records_in, report.accepted, report.quarantined) == (6, 2, 4)
    assert again.new_rows == 0
    reasons = quarantine_reasons(store)
    for line_no, key_word in enumerate(faults, start=4):
        assert key_word in reasons[line_no], (key_word, reasons[line_no])
    rows = store.query("SELECT * FROM supplier_certifications ORDER BY cert_type")
    assert rows["cert_type"].tolist() == ["ISO14001", "MA"]
    assert pd.isna(rows["evidence_document"].iloc[1])  # no evidence = absent


def test_certifications_chinese_headers(tmp_path: Path, personal: PersonalData) -> None:
    frames = []
    for name, header in (("en.csv", CERT_EN), ("zh.csv", CERT_ZH)):
        path = write_csv(tmp_path / name, [header, *CERTS], bom=name == "zh.csv")
        (chunk,) = list(read_supplier_certifications(path, personal))
        frames.append(
            chunk.tables["supplier_certifications"].drop(columns=["source_file", "ingested_at"])
        )
    pd.testing.assert_frame_equal(frames[0], frames[1])


EVENT_EN = [
    "event_id", "supplier_id", "event_type", "event_date", "severity", "deaths", "fine_cny",
    "listed_until", "description", "evidence_document",
]  # fmt: skip
EVENT_ZH = [
    "事件编号", "供应商编号", "事件类型", "事件日期", "严重程度", "死亡人数", "罚款金额（元）",
    "列入期限至", "事件描述", "证明文件",
]  # fmt: skip
EVENTS_EN = [
    ["V001", "S0001", "env_penalty", "2023-04-11", "serious", "", "200000", "",
     "超标排放", "鄂环罚〔2023〕12号"],
    ["V002", "S0002", "safety_accident", "2024-02-03", "larger", "3", "", "", "顶板事故", ""],
    ["V003", "S0002", "safety_blacklist", "2024-03-01", "", "", "", "2025-03-01", "",
     "应急管理部公告"],
]  # fmt: skip
EVENTS_ZH = [
    ["V001", "S0001", "环保处罚", "2023-04-11", "严重", "", "200000", "",
     "超标排放", "鄂环罚〔2023〕12号"],
    ["V002", "S0002", "安全事故", "2024-02-03", "较大", "3", "", "", "顶板事故", ""],
    ["V003", "S0002", "安全生产黑名单", "2024-03-01", "", "", "", "2025-03-01", "",
     "应急管理部公告"],
]  # fmt: skip


def test_events(tmp_path: Path, store: Store, personal: PersonalData) -> None:
    faults = {
        "unknown event type": ["V101", "S1", "rumour", "2024-01-01", "", "", "", "", "", ""],
        "deaths": ["V102", "S1", "safety_accident", "2024-01-01", "general", "4", "", "", "", ""],
        "fine_cny": ["V103", "S1", "env_penalty", "2024-01-01", "minor", "", "-1", "", "", ""],
        "cannot have deaths": ["V104", "S1", "env_penalty", "2024-01-01", "", "1", "", "", "", ""],
        "listed_until": ["V105", "S1", "debarment", "2024-01-01", "", "", "", "2023-01-01", "", ""],
        "event_date": ["V106", "S1", "litigation", "yesterday", "", "", "", "", "", ""],
        "severity": ["V107", "S1", "safety_accident", "2024-01-01", "serious", "", "", "", "", ""],
        "fields": ["V108", "S1"],
    }
    path = write_csv(tmp_path / "events.csv", [EVENT_EN, *EVENTS_EN, *faults.values()])

    report = ingest_file(store, personal, "supplier_events", path)
    again = ingest_file(store, personal, "supplier_events", path)

    assert report.records_in == 3 + len(faults) == report.accepted + report.quarantined
    assert report.accepted == 3
    assert again.new_rows == 0
    reasons = quarantine_reasons(store)
    for line_no, key_word in enumerate(faults, start=5):
        assert key_word in reasons[line_no], (key_word, reasons[line_no])
    rows = store.query("SELECT * FROM supplier_events ORDER BY event_id").set_index("event_id")
    assert rows.loc["V001", "fine_cny"] == 200_000
    assert (rows.loc["V002", "severity"], rows.loc["V002", "deaths"]) == ("larger", 3)


def test_events_chinese_headers_and_labels(tmp_path: Path, personal: PersonalData) -> None:
    english = write_csv(tmp_path / "en.csv", [EVENT_EN, *EVENTS_EN])
    chinese = write_csv(tmp_path / "zh.csv", [EVENT_ZH, *EVENTS_ZH], bom=True)
    frames = []
    for path in (english, chinese):
        (chunk,) = list(read_supplier_events(path, personal))
        frames.append(chunk.tables["supplier_events"].drop(columns=["source_file", "ingested_at"]))
    pd.testing.assert_frame_equal(frames[0], frames[1])
    assert frames[1]["event_type"].tolist() == [
        "env_penalty",
        "safety_accident",
        "safety_blacklist",
    ]


def test_undecodable_and_badly_quoted_rows_are_quarantined(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    good = good_register(tmp_path).read_bytes()
    header, first, second = good.splitlines()
    path = tmp_path / "register.csv"
    path.write_bytes(
        b"\r\n".join(
            [
                header,
                first,
                b'S0009,"\xff\xfe bad bytes",,,,,,,,,,,,,,',
                b'S0010,"x"y' + b",," * 7,
                second,
            ]
        )
        + b"\r\n"
    )

    report = ingest_file(store, personal, "supplier_register", path)

    assert (report.records_in, report.accepted, report.quarantined) == (4, 2, 2)
    reasons = quarantine_reasons(store)
    assert "UTF-8" in reasons[3]
    assert "malformed CSV" in reasons[4]
    assert store.query("SELECT source_line FROM suppliers ORDER BY 1")["source_line"].tolist() == [
        2,
        5,
    ]
