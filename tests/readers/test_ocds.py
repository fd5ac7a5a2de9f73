"""The OCDS reader on real public files, on hand-built packages, and on deliberate faults."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest

from core.security import PersonalData
from ingest.readers.ocds import TABLE_COLUMNS, read_ocds
from ingest.run import IngestReport, ingest_file
from store.database import Store, plaintext_present
from store.schema import LINEAGE_COLUMNS, TABLES
from tests.conftest import SHARED_DATA

PROCUREMENT = Path("procurement")
ARMENIA = PROCUREMENT / "ocds_armenia"
ARMENIA_PREPARED = ARMENIA / "armenia_armeps_tenders_prepared.jsonl.gz"
ARMENIA_LOTSPLIT = ARMENIA / "armenia_armeps_tenders_prepared_lotsplit.jsonl.gz"
REAL_FILES = sorted(
    [
        *(SHARED_DATA / ARMENIA).glob("*.jsonl.gz"),
        *(SHARED_DATA / PROCUREMENT / "cardinal_fixtures").rglob("*.jsonl"),
    ]
)


def _ingest(store: Store, personal: PersonalData, path: Path) -> IngestReport:
    report = ingest_file(store, personal, "ocds", path)
    assert report.records_in == report.accepted + report.quarantined
    return report


def _write_lines(path: Path, lines: Sequence[object]) -> Path:
    path.write_bytes(
        b"\n".join(line if isinstance(line, bytes) else orjson.dumps(line) for line in lines)
        + b"\n"
    )
    return path


def _quarantine_reasons(store: Store) -> dict[int, str]:
    frame = store.query("SELECT source_line, reason FROM quarantine WHERE reader = 'ocds'")
    return dict(zip(frame["source_line"], frame["reason"], strict=True))


def _release(ocid: str, **fields: object) -> dict[str, object]:
    return {"ocid": ocid, "id": f"{ocid}-r", "date": "2024-03-01T00:00:00Z", **fields}


def test_every_table_column_matches_the_schema() -> None:
    for name, columns in TABLE_COLUMNS.items():
        assert sorted([*columns, *LINEAGE_COLUMNS]) == sorted(TABLES[name].column_names), name


def test_real_files_are_found() -> None:
    assert len(REAL_FILES) >= 40  # 3 Armenia files and the Cardinal fixtures


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda path: path.name)
def test_real_file_ingests_with_counts_adding_up(
    store: Store, personal: PersonalData, path: Path
) -> None:
    report = _ingest(store, personal, path)
    assert report.records_in > 0
    assert store.count("quarantine") == report.quarantined  # nothing quarantined is lost
    assert store.count("processes") <= report.accepted


def test_armenia_prepared_gives_428_processes(
    store: Store, personal: PersonalData, shared_data: Path
) -> None:
    report = _ingest(store, personal, shared_data / ARMENIA_PREPARED)
    assert (report.records_in, report.accepted, report.quarantined) == (428, 428, 0)
    assert store.count("processes") == 428
    assert store.count("bids") > 0
    assert store.count("parties") > 0
    currencies = store.query("SELECT DISTINCT value_currency FROM bids")["value_currency"]
    assert set(currencies.dropna()) == {"AMD"}  # kept as given, never converted


def test_armenia_lotsplit_reads_962_records(
    store: Store, personal: PersonalData, shared_data: Path
) -> None:
    report = _ingest(store, personal, shared_data / ARMENIA_LOTSPLIT)
    assert report.records_in == 962
    assert store.count("processes") == 962


def test_release_package_merges_releases_of_one_ocid(
    store: Store, personal: PersonalData, tmp_path: Path
) -> None:
    tenderer = {"id": "SUP-1", "name": "一号供应商"}
    first = _release(
        "ocds-a-1",
        date="2024-03-01T00:00:00Z",
        tag=["tender"],
        tender={"id": "t", "value": {"amount": 100.0, "currency": "CNY"}, "title": "托辊采购"},
        bids={
            "details": [
                {"id": "b1", "status": "pending", "tenderers": [tenderer]},
                {"id": "b2", "status": "pending", "value": {"amount": 90, "currency": "CNY"}},
            ]
        },
    )
    second = _release(
        "ocds-a-1",
        id="ocds-a-1-r2",
        date="2024-03-20T00:00:00Z",
        tag=["tenderUpdate"],
        tender={"id": "t", "value": {"amount": 150.0, "currency": "CNY"}},
        bids={"details": [{"id": "b1", "status": "disqualified"}]},
    )
    other = _release("ocds-a-2", tender={"id": "t"})
    # the later release comes first in the file: merging orders by date, not by position
    path = _write_lines(tmp_path / "package.jsonl", [{"releases": [second, other, first]}])
    report = _ingest(store, personal, path)
    assert (report.records_in, report.accepted) == (2, 2)
    process = store.query("SELECT * FROM processes WHERE ocid = 'ocds-a-1'").iloc[0]
    assert process["tender_value_amount"] == 150.0
    assert process["title"] == "托辊采购"
    assert str(process["release_date"]) == "2024-03-20 00:00:00"
    bids = store.query("SELECT bid_id, status, value_amount, tenderer_ids FROM bids ORDER BY 1")
    assert list(bids["bid_id"]) == ["b1", "b2"]
    assert list(bids["status"]) == ["disqualified", "pending"]
    assert bids["value_amount"].iloc[1] == 90.0
    assert list(bids["tenderer_ids"].iloc[0]) == ["SUP-1"]


def test_plain_releases_on_separate_lines_merge_at_the_last_line(
    store: Store, personal: PersonalData, tmp_path: Path
) -> None:
    early = _release("ocds-b-1", date="2024-01-01T00:00:00Z", tender={"status": "active"})
    late = _release("ocds-b-1", date="2024-02-01T00:00:00Z", tender={"status": "complete"})
    single = _release("ocds-b-2", tender={"status": "planned"})
    path = _write_lines(tmp_path / "releases.jsonl", [early, single, late])
    report = _ingest(store, personal, path)
    assert (report.records_in, report.accepted) == (2, 2)
    rows = store.query("SELECT ocid, status, source_line FROM processes ORDER BY ocid")
    assert rows.values.tolist() == [["ocds-b-1", "complete", 3], ["ocds-b-2", "planned", 2]]


def test_failed_merge_quarantines_the_releases_of_every_line(
    store: Store, personal: PersonalData, tmp_path: Path
) -> None:
    bad = _release("ocds-j-1", date="2024-01-01T00:00:00Z", tender={"value": {"amount": "abc"}})
    late = _release("ocds-j-1", date="2024-02-01T00:00:00Z", tender={"status": "active"})
    path = _write_lines(tmp_path / "releases.jsonl", [bad, _release("ocds-j-2"), late])
    report = _ingest(store, personal, path)
    assert (report.records_in, report.accepted, report.quarantined) == (2, 1, 1)
    row = store.query("SELECT source_line, reason, record_enc FROM quarantine").iloc[0]
    assert row["source_line"] == 3
    assert "tender.value.amount" in row["reason"]
    assert "ocds-j-1" in row["reason"]
    record = orjson.loads(personal.cipher.decrypt(row["record_enc"], column="record_enc") or "")
    assert record["merged_releases"][0]["source_lines"] == [1, 3]
    assert record["merged_releases"][0]["releases"][0]["tender"]["value"]["amount"] == "abc"


def test_record_package_uses_compiled_release_else_merges(
    store: Store, personal: PersonalData, tmp_path: Path
) -> None:
    compiled = _release("ocds-c-1", tag=["compiled"], tender={"title": "compiled title"})
    records = {
        "records": [
            {"ocid": "ocds-c-1", "releases": [{"url": "http://x/1"}], "compiledRelease": compiled},
            {
                "ocid": "ocds-c-2",
                "releases": [
                    _release("ocds-c-2", date="2024-01-01T00:00:00Z", tender={"title": "old"}),
                    _release("ocds-c-2", date="2024-05-01T00:00:00Z", tender={"title": "new"}),
                ],
            },
            {"ocid": "ocds-c-3", "releases": [{"url": "http://x/3", "date": "2024-01-01"}]},
        ]
    }
    path = _write_lines(tmp_path / "records.jsonl", [records])
    report = _ingest(store, personal, path)
    assert (report.records_in, report.accepted, report.quarantined) == (3, 2, 1)
    titles = store.query("SELECT ocid, title FROM processes ORDER BY ocid").values.tolist()
    assert titles == [["ocds-c-1", "compiled title"], ["ocds-c-2", "new"]]
    assert "no compiledRelease" in _quarantine_reasons(store)[1]


def test_pretty_printed_package_document_is_read_whole(
    store: Store, personal: PersonalData, tmp_path: Path
) -> None:
    package = {"uri": "x", "releases": [_release("ocds-d-1"), _release("ocds-d-2")]}
    path = tmp_path / "package.json"
    path.write_bytes(orjson.dumps(package, option=orjson.OPT_INDENT_2))
    assert path.read_text().count("\n") > 10
    report = _ingest(store, personal, path)
    assert (report.records_in, report.accepted, report.quarantined) == (2, 2, 0)
    assert set(store.query("SELECT source_line FROM processes")["source_line"]) == {1}


def test_faulty_lines_are_quarantined_with_their_reason(
    store: Store, personal: PersonalData, tmp_path: Path
) -> None:
    good = _release("ocds-e-1", tender={"value": {"amount": 10, "currency": "CNY"}})
    lines: list[object] = [
        good,  # 1
        b'{"ocid": "ocds-e-2", "tender": {"value": {"amo',  # 2 truncated
        _release("ocds-e-3", tender={"value": {"amount": "abc", "currency": "CNY"}}),  # 3
        _release("ocds-e-4", bids={"details": [{"id": "b", "value": {"amount": "NaN"}}]}),  # 4
        {"id": "no-ocid", "tender": {"title": "x"}},  # 5
        [1, 2, 3],  # 6
        _release("ocds-e-7", tender={"tenderPeriod": {"endDate": "next Tuesday"}}),  # 7
        _release("ocds-e-8", bids={"details": {"id": "b"}}),  # 8
        _release("ocds-e-9", tender={"numberOfTenderers": 3}),  # 9
    ]
    path = _write_lines(tmp_path / "faults.jsonl", lines)
    report = _ingest(store, personal, path)
    assert (report.records_in, report.accepted, report.quarantined) == (9, 2, 7)
    assert sorted(store.query("SELECT ocid FROM processes")["ocid"]) == ["ocds-e-1", "ocds-e-9"]
    reasons = _quarantine_reasons(store)
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8]
    assert "malformed JSON" in reasons[2]
    assert "tender.value.amount" in reasons[3]
    assert "'abc'" in reasons[3]
    assert "bids.details[0].value.amount: not a finite number" in reasons[4]
    assert "ocid: missing" in reasons[5]
    assert "not a JSON object" in reasons[6]
    assert "tender.tenderPeriod.endDate: not an ISO 8601" in reasons[7]
    assert "bids.details: expected a list" in reasons[8]
    assert store.count("bids") == 0  # no row of a quarantined release is kept


def test_objects_without_ids_get_stable_position_ids(
    store: Store, personal: PersonalData, tmp_path: Path
) -> None:
    release = _release(
        "ocds-f-1",
        bids={"details": [{"status": "valid"}, {"status": "disqualified"}]},
        tender={"amendments": [{"rationale": "extended"}]},
        contracts=[{"amendments": [{"description": "price up"}]}],
    )
    path = _write_lines(tmp_path / "no_ids.jsonl", [release])
    _ingest(store, personal, path)
    assert list(store.query("SELECT bid_id FROM bids ORDER BY 1")["bid_id"]) == ["#0", "#1"]
    amendments = store.query(
        "SELECT scope, parent_id, amendment_id FROM amendments ORDER BY scope"
    ).values.tolist()
    assert amendments == [["contract", "#0", "#0"], ["tender", "", "#0"]]


def test_contracts_milestones_and_transactions(
    store: Store, personal: PersonalData, tmp_path: Path
) -> None:
    contract = {
        "id": "c1",
        "awardID": "a1",
        "value": {"amount": 1000, "currency": "USD"},
        "implementation": {
            "milestones": [
                {"id": "m1", "type": "delivery", "dueDate": "2024-04-01T08:00:00+08:00"}
            ],
            "transactions": [
                {"id": "t1", "value": {"amount": 400, "currency": "USD"}, "payee": {"id": "S"}},
                {"id": "t2", "amount": {"amount": 600, "currency": "USD"}},  # OCDS 1.0 shape
            ],
        },
    }
    path = _write_lines(tmp_path / "contract.jsonl", [_release("ocds-g-1", contracts=[contract])])
    _ingest(store, personal, path)
    milestone = store.query("SELECT * FROM milestones").iloc[0]
    assert str(milestone["due_date"]) == "2024-04-01 00:00:00"  # naive UTC
    transactions = store.query("SELECT transaction_id, value_amount, payee_id FROM transactions")
    assert sorted(transactions["value_amount"]) == [400.0, 600.0]
    assert store.query("SELECT value_currency FROM contracts").iloc[0, 0] == "USD"


def test_reingesting_a_file_adds_nothing(
    store: Store, personal: PersonalData, shared_data: Path, tmp_path: Path
) -> None:
    faulty = _write_lines(tmp_path / "faulty.jsonl", [_release("ocds-h-1"), b"{oops", [1]])
    for path in (shared_data / ARMENIA_PREPARED, faulty):
        first = _ingest(store, personal, path)
        counts = store.table_counts()
        second = _ingest(store, personal, path)
        assert first.new_rows > 0
        assert second.new_rows == 0
        assert (second.records_in, second.accepted) == (first.records_in, first.accepted)
        after = store.table_counts()
        assert after.pop("ingest_runs") == counts.pop("ingest_runs") + 1
        assert after == counts  # quarantine included: not duplicated


def test_contact_names_and_phones_are_never_stored_in_plaintext(
    tmp_path: Path, personal: PersonalData
) -> None:
    contact = {"name": "联系人王五", "telephone": "+86 139 0000 1234"}
    party = {"id": "SUP-9", "name": "晋源矿山机械有限公司", "contactPoint": contact}
    good = _release("ocds-i-1", parties=[party])
    bad = _release("ocds-i-2", parties=[party], tender={"value": {"amount": "x"}})
    path = _write_lines(tmp_path / "contacts.jsonl", [good, bad])
    # an unencrypted store, so that only the column protection keeps the plaintext out
    with Store(tmp_path / "plain.duckdb", encryption_key=None) as store:
        report = _ingest(store, personal, path)
        assert (report.accepted, report.quarantined) == (1, 1)
        row = store.query("SELECT * FROM parties").iloc[0]
        store.checkpoint()
    cipher = personal.cipher
    assert cipher.decrypt(row["contact_name_enc"], column="contact_name_enc") == "联系人王五"
    assert (
        cipher.decrypt(row["contact_phone_enc"], column="contact_phone_enc") == contact["telephone"]
    )
    fingerprint = personal.pseudonymiser.fingerprint("phone", "+8613900001234")
    assert row["contact_phone_fingerprint"] == fingerprint
    needles = ["联系人王五", "+86 139 0000 1234", "13900001234"]
    assert plaintext_present(tmp_path / "plain.duckdb", needles) == []
    # the check itself can see plaintext: the organisation name is stored as such
    assert plaintext_present(tmp_path / "plain.duckdb", ["晋源矿山机械有限公司"]) != []


def test_chunks_keep_the_counting_invariant(personal: PersonalData, shared_data: Path) -> None:
    chunks = list(
        read_ocds(shared_data / ARMENIA / "armenia_armeps_releases_2018-01.jsonl.gz", personal)
    )
    for chunk in chunks:
        chunk.check()
        assert chunk.reader == "ocds"
    assert sum(chunk.records_in for chunk in chunks) == 900


def _bid(bid_id: object, amount: object, currency: str = "CNY") -> dict[str, object]:
    return {"id": bid_id, "value": {"amount": amount, "currency": currency}, "status": "valid"}


def _with_bids(ocid: object, *bids: dict[str, object], **fields: object) -> dict[str, object]:
    release = _release(str(ocid), tender={"id": "t", "title": "x"}, buyer={"id": "b"}, **fields)
    release["ocid"] = ocid
    release["bids"] = {"details": list(bids)}
    return release


def test_errors_quarantine_the_release_with_the_field_in_the_reason(
    store: Store, personal: PersonalData, tmp_path: Path
) -> None:
    errors = {
        "ocid: expected text, got int": _with_bids(12345, _bid("b1", 10.0)),
        "bids.details[1].value.amount: must be >= 0": _with_bids(
            "ocds-neg", _bid("b1", 10.0), _bid(None, -5.0)
        ),
        "awards[0].value.amount: not a number": _with_bids(
            "ocds-award", awards=[{"id": "a1", "value": {"amount": "lots", "currency": "CNY"}}]
        ),
        "contracts[0].value.amount: must be >= 0": _with_bids(
            "ocds-contract", contracts=[{"id": "c1", "value": {"amount": -1, "currency": "CNY"}}]
        ),
        "tender.numberOfTenderers: must be >= 0": _release(
            "ocds-count", tender={"numberOfTenderers": -2}
        ),
        "bids.details[0].date: year 9999 is outside 1900..2100": _with_bids(
            "ocds-date", {**_bid("b1", 1.0), "date": "9999-01-01T00:00:00Z"}
        ),
        "date: year 1 is outside 1900..2100": {**_release("ocds-year"), "date": "0001-01-01"},
    }
    good = _with_bids("ocds-good", _bid("b1", 10.0))
    path = _write_lines(tmp_path / "faults.jsonl", [good, *errors.values()])

    report = _ingest(store, personal, path)

    assert (report.records_in, report.accepted, report.quarantined) == (8, 1, 7)
    reasons = _quarantine_reasons(store)
    for line_no, expected in enumerate(errors, start=2):
        assert expected in reasons[line_no], (expected, reasons[line_no])
    assert store.query("SELECT ocid FROM processes")["ocid"].tolist() == ["ocds-good"]


def test_tolerated_oddities_are_accepted_and_counted_in_the_report(
    store: Store, personal: PersonalData, tmp_path: Path
) -> None:
    refund = {"id": "p1", "value": {"amount": -100.0, "currency": "CNY"}}
    releases = [
        _with_bids("ocds-1", _bid(None, 10.0), _bid(None, 12.0)),
        _with_bids("ocds-2", _bid("b1", "1,234.5", currency="XYZ")),
        _with_bids(
            "ocds-3",
            _bid("b1", 10.0),
            contracts=[{"id": "c1", "implementation": {"transactions": [refund]}}],
        ),
        _release("ocds-4"),
    ]
    path = _write_lines(tmp_path / "tolerated.jsonl", releases)

    report = _ingest(store, personal, path)

    assert (report.accepted, report.quarantined) == (4, 0)
    assert report.warnings == {
        "bids.details[].id missing: derived from the position ('#0', ...)": 2,
        "bids.details[].value.amount given as text": 1,
        "bids.details[].value.currency not an ISO 4217 code: 'XYZ'": 1,
        "tender missing": 1,
        "buyer missing": 1,
    }
    bids = store.query("SELECT ocid, bid_id, value_amount FROM bids ORDER BY ocid, bid_id")
    assert bids.values.tolist() == [
        ["ocds-1", "#0", 10.0],
        ["ocds-1", "#1", 12.0],
        ["ocds-2", "b1", 1234.5],
        ["ocds-3", "b1", 10.0],
    ]
    assert store.query("SELECT value_amount FROM transactions").iloc[0, 0] == -100.0
    assert "warning: tender missing" in str(report)


def test_frames_are_typed_from_the_schema_not_the_data(
    personal: PersonalData, tmp_path: Path
) -> None:
    """An INTEGER column with nulls stays integer; an all-null column keeps its type."""
    releases = [
        _release("ocds-1", tender={"numberOfTenderers": 3}),
        _release("ocds-2", tender={"title": "no count"}),
    ]
    (chunk,) = read_ocds(_write_lines(tmp_path / "typed.jsonl", releases), personal)
    processes = chunk.tables["processes"]
    assert str(processes["number_of_tenderers"].dtype) == "int32[pyarrow]"
    assert processes["number_of_tenderers"].tolist()[0] == 3
    assert processes["number_of_tenderers"].isna().tolist() == [False, True]
    assert str(processes["tender_value_amount"].dtype) == "double[pyarrow]"
    assert str(processes["award_period_end"].dtype) == "timestamp[us][pyarrow]"
