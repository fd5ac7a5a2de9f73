"""OCDS files where a field is rare: its type comes from the schema, so nothing fails and
nothing is lost however few rows carry it (real files: lots on a handful of awards)."""

from __future__ import annotations

from pathlib import Path

import orjson

from core.security import PersonalData
from ingest.run import ingest_file
from store.database import Store

RELEASES = 12_000
WITH_LOTS = (7, 9_500, 11_998)  # positions of the only awards that name lots


def _release(position: int) -> dict[str, object]:
    ocid = f"ocds-rare-{position:06d}"
    award: dict[str, object] = {
        "id": "a1",
        "date": "2025-02-01T08:00:00+08:00",
        "status": "active",
        "value": {"amount": 1_000 + position, "currency": "CNY"},
        "suppliers": [{"id": "SUP-1", "name": "某矿用设备有限公司"}],
    }
    if position in WITH_LOTS:
        award["relatedLots"] = [f"lot-{position}"]
    if position == RELEASES - 1:
        award["title"] = "the only award with a title"
    return {
        "ocid": ocid,
        "id": f"{ocid}-1",
        "date": "2025-02-01T08:00:00+08:00",
        "tag": ["award"],
        "buyer": {"id": "BUY-1", "name": "物资供应中心"},
        "awards": [award],
    }


def test_lots_on_three_awards_of_twelve_thousand_ingest_whole(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    path = tmp_path / "rare_lots.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(_release(i)) for i in range(RELEASES)) + b"\n")
    report = ingest_file(store, personal, "ocds", path)
    assert (report.records_in, report.accepted, report.quarantined) == (RELEASES, RELEASES, 0)
    assert store.count("awards") == RELEASES
    lots = store.query(
        "SELECT ocid, related_lots FROM awards WHERE len(related_lots) > 0 ORDER BY ocid"
    )
    assert lots["ocid"].tolist() == [f"ocds-rare-{i:06d}" for i in WITH_LOTS]
    assert [list(v) for v in lots["related_lots"]] == [[f"lot-{i}"] for i in WITH_LOTS]
