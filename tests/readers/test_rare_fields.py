"""OCDS files where a field is rare: its type comes from the schema, so nothing fails and
nothing is lost however few rows carry it (real files: lots on a handful of awards among tens
of thousands; a field that only the last releases of a file fill in)."""

from __future__ import annotations

from pathlib import Path

import orjson

from core.security import PersonalData
from ingest.run import ingest_file
from store.database import Store

RELEASES = 12_000
AWARDS_PER_RELEASE = 2  # 24,000 awards: more than one reader chunk, far past any type sample
WITH_LOTS = (7, 9_500, 11_998)  # positions of the only releases whose first award names lots
FILLED_AT_END = (11_996, 11_997, 11_999)  # the only releases whose awards carry date, value, bid


def _release(position: int, *, lots: bool) -> dict[str, object]:
    ocid = f"ocds-rare-{position:06d}"
    awards: list[dict[str, object]] = []
    for number in range(1, AWARDS_PER_RELEASE + 1):
        award: dict[str, object] = {
            "id": f"a{number}",
            "status": "active",
            "suppliers": [{"id": "SUP-1", "name": "某矿用设备有限公司"}],
        }
        if lots and number == 1 and position in WITH_LOTS:
            award["relatedLots"] = [f"lot-{position}"]
        if not lots and position in FILLED_AT_END:
            award["date"] = "2025-02-01T08:00:00+08:00"
            award["value"] = {"amount": 1_000 + position, "currency": "CNY"}
            award["relatedBid"] = f"bid-{position}-{number}"
        awards.append(award)
    return {
        "ocid": ocid,
        "id": f"{ocid}-1",
        "date": "2025-02-01T08:00:00+08:00",
        "tag": ["award"],
        "buyer": {"id": "BUY-1", "name": "物资供应中心"},
        "awards": awards,
    }


def _ingest(tmp_path: Path, store: Store, personal: PersonalData, *, lots: bool) -> None:
    path = tmp_path / ("rare_lots.jsonl" if lots else "late_fields.jsonl")
    lines = (orjson.dumps(_release(i, lots=lots)) for i in range(RELEASES))
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = ingest_file(store, personal, "ocds", path)
    assert (report.records_in, report.accepted, report.quarantined) == (RELEASES, RELEASES, 0)
    assert store.count("processes") == RELEASES
    assert store.count("awards") == RELEASES * AWARDS_PER_RELEASE


def test_lots_on_three_awards_of_twenty_four_thousand_ingest_whole(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    _ingest(tmp_path, store, personal, lots=True)
    lots = store.query(
        "SELECT ocid, award_id, related_lots FROM awards WHERE len(related_lots) > 0 ORDER BY ocid"
    )
    assert lots["ocid"].tolist() == [f"ocds-rare-{i:06d}" for i in WITH_LOTS]
    assert set(lots["award_id"]) == {"a1"}
    assert [list(v) for v in lots["related_lots"]] == [[f"lot-{i}"] for i in WITH_LOTS]


def test_columns_empty_on_all_but_the_last_rows_ingest_whole(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    _ingest(tmp_path, store, personal, lots=False)
    filled = store.query(
        "SELECT ocid, award_id, award_date, value_amount, value_currency, related_bid "
        "FROM awards WHERE award_date IS NOT NULL OR value_amount IS NOT NULL "
        "OR value_currency IS NOT NULL OR related_bid IS NOT NULL ORDER BY ocid, award_id"
    )
    expected = [(f"ocds-rare-{i:06d}", f"a{n}") for i in FILLED_AT_END for n in (1, 2)]
    assert list(zip(filled["ocid"], filled["award_id"], strict=True)) == expected
    assert filled["award_date"].notna().all()
    assert filled["value_amount"].tolist() == [
        float(1_000 + i) for i in FILLED_AT_END for _ in (1, 2)
    ]
    assert set(filled["value_currency"]) == {"CNY"}
    assert filled["related_bid"].tolist() == [f"bid-{i}-{n}" for i in FILLED_AT_END for n in (1, 2)]
