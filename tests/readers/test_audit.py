"""The audit outcomes reader: good rows, each kind of fault, a wrong header, re-ingestion."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from core.security import PersonalData
from ingest.run import ingest_file
from store.database import Store

GOOD = """\ufeffocid,finding,scheme,confirmed_at
ocds-1,confirmed,bid_rigging,2024-05-01
ocds-2,Dismissed,,2024-05-02
ocds-3,needs information,price_inflation,2024-05-03
ocds-4,VIOLATION,split_purchase,2024-05-04
ocds-5,no_violation,,2024-05-05
"""

FAULTS = """ocid,finding,scheme,confirmed_at
ocds-1,confirmed,bid_rigging,2024-05-01
,confirmed,bid_rigging,2024-05-01
ocds-3,maybe,bid_rigging,2024-05-01

ocds-5,confirmed,,2024-05-01
ocds-6,confirmed,bribery,2024-05-01
ocds-7,dismissed,,01/05/2024
ocds-8,dismissed,,
ocds-9,dismissed,,2024-05-01,extra
"ocds-10","dismissed","","2024-05-01"
"""


def _write(tmp_path: Path, text: str, name: str = "audit.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_rows_are_normalised(store: Store, personal: PersonalData, tmp_path: Path) -> None:
    report = ingest_file(store, personal, "audit_outcomes", _write(tmp_path, GOOD))
    assert (report.records_in, report.accepted, report.quarantined) == (5, 5, 0)
    rows = store.query("SELECT * FROM audit_outcomes ORDER BY ocid")
    assert list(rows["finding"]) == [
        "confirmed",
        "dismissed",
        "needs_information",
        "confirmed",
        "dismissed",
    ]
    assert list(rows["scheme"]) == ["bid_rigging", "", "price_inflation", "split_purchase", ""]
    assert rows["confirmed_at"].iloc[0].date() == date(2024, 5, 1)
    assert set(rows["origin"]) == {"file"}
    assert list(rows["source_line"]) == [2, 3, 4, 5, 6]  # the header is line 1


def test_each_fault_is_quarantined_with_its_reason(
    store: Store, personal: PersonalData, tmp_path: Path
) -> None:
    report = ingest_file(store, personal, "audit_outcomes", _write(tmp_path, FAULTS))
    assert (report.records_in, report.accepted, report.quarantined) == (9, 2, 7)
    assert report.records_in == report.accepted + report.quarantined
    assert sorted(store.query("SELECT ocid FROM audit_outcomes")["ocid"]) == ["ocds-1", "ocds-10"]
    frame = store.query("SELECT source_line, reason FROM quarantine")
    reasons = dict(zip(frame["source_line"], frame["reason"], strict=True))
    assert reasons[3] == "ocid: missing"
    assert "finding: 'maybe'" in reasons[4]
    assert reasons[6] == "scheme: required when the finding is confirmed"  # line 5 is blank
    assert "scheme: 'bribery'" in reasons[7]
    assert "confirmed_at: not a date" in reasons[8]
    assert reasons[9] == "confirmed_at: missing"
    assert reasons[10] == "expected 4 fields, got 5"
    assert len(reasons) == 7


def test_wrong_header_quarantines_the_file_as_one_record(
    store: Store, personal: PersonalData, tmp_path: Path
) -> None:
    path = _write(tmp_path, "ocid,result,scheme,date\nocds-1,confirmed,other,2024-05-01\n")
    report = ingest_file(store, personal, "audit_outcomes", path)
    assert (report.records_in, report.accepted, report.quarantined) == (1, 0, 1)
    assert store.count("audit_outcomes") == 0
    assert store.count("ingest_runs") == 1
    line, reason = store.query("SELECT source_line, reason FROM quarantine").iloc[0]
    assert line == 0
    assert "finding, confirmed_at" in reason
    assert "headers read: ocid, result" in reason


def test_header_in_another_order_is_accepted(
    store: Store, personal: PersonalData, tmp_path: Path
) -> None:
    path = _write(tmp_path, "Confirmed_At,OCID,Scheme,Finding\n2024-05-01,ocds-1,other,confirmed\n")
    report = ingest_file(store, personal, "audit_outcomes", path)
    assert report.accepted == 1
    row = store.query("SELECT ocid, finding, scheme FROM audit_outcomes").iloc[0]
    assert list(row) == ["ocds-1", "confirmed", "other"]


def test_reingesting_adds_nothing(store: Store, personal: PersonalData, tmp_path: Path) -> None:
    path = _write(tmp_path, FAULTS)
    first = ingest_file(store, personal, "audit_outcomes", path)
    counts = (store.count("audit_outcomes"), store.count("quarantine"))
    second = ingest_file(store, personal, "audit_outcomes", path)
    assert first.new_rows == 2
    assert second.new_rows == 0
    assert (second.accepted, second.quarantined) == (first.accepted, first.quarantined)
    assert (store.count("audit_outcomes"), store.count("quarantine")) == counts
