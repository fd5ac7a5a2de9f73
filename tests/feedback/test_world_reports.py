"""The demo world's reports: read whole, linked to schemes more than to honest processes, late;
and the branch resolution times the assessment reads."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

from core.security import PersonalData
from ingest.run import ingest_file
from store.database import Store
from store.queries.feedback import resolution_hours_by_branch_month
from world.feedback_reports import (
    INTEGRITY_DURING_TENDER_SHARE,
    REPORTS_FILE,
    TRUTH_REPORTS,
    _Process,
    _submitted,
)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_reports_follow_schemes_some_late_noisy(small_world: tuple[Path, Path]) -> None:
    world, truth = small_world
    reports = _csv(world / REPORTS_FILE)
    planted = {row["report_id"]: row for row in _csv(truth / TRUTH_REPORTS)}
    schemed = {row["ocid"] for row in _csv(truth / "process_schemes.csv")}
    assert len(reports) == len(planted) > 50
    linked = [row for row in reports if row["ocid"]]
    on_schemes = {row["ocid"] for row in linked if row["ocid"] in schemed}
    on_honest = {row["ocid"] for row in linked if row["ocid"] not in schemed}
    n_processes = sum(1 for _ in (world / "procurement/releases.jsonl").open(encoding="utf-8"))
    # some, not all, schemed processes draw a report; far more often than honest ones do
    assert 0 < len(on_schemes) < len(schemed)
    assert len(on_schemes) / len(schemed) > 2 * len(on_honest) / (n_processes - len(schemed))
    scheme_reports = [r for r in reports if planted[r["report_id"]]["scheme"]]
    kinds = {r["kind"] for r in scheme_reports}
    assert "integrity_concern" in kinds
    assert len(kinds) > 1  # not every scheme report is an integrity concern
    assert any(not r["ocid"] and r["supplier_id"] for r in scheme_reports)  # supplier only


def _process_dates(releases: Path) -> dict[str, tuple[datetime, datetime]]:
    """ocid -> (tender start, award), naive UTC, of awarded processes."""
    out = {}
    for line in releases.open(encoding="utf-8"):
        release = orjson.loads(line)
        awards = release.get("awards") or []
        start = (release["tender"].get("tenderPeriod") or {}).get("startDate")
        if awards and start:
            out[release["ocid"]] = (_utc(start), _utc(awards[0]["date"]))
    return out


def _utc(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC).replace(tzinfo=None)


def test_reports_come_when_their_kind_is_met(small_world: tuple[Path, Path]) -> None:
    """Blockages while the process runs, some integrity concerns during the tender (so a
    warning at the award can see them), complaints about goods and prices after the award."""
    world, truth = small_world
    dates = _process_dates(world / "procurement/releases.jsonl")
    planted = {row["report_id"]: row["planted_kind"] for row in _csv(truth / TRUTH_REPORTS)}
    before_award: dict[str, list[bool]] = {}
    for row in _csv(world / REPORTS_FILE):
        if row["ocid"] not in dates:
            continue
        tendered, awarded = dates[row["ocid"]]
        submitted = datetime.fromisoformat(row["submitted_at"])
        assert submitted >= tendered.replace(microsecond=0)
        before_award.setdefault(planted[row["report_id"]], []).append(submitted < awarded)
    assert before_award["process_blockage"]
    assert all(before_award["process_blockage"])
    for kind in ("price", "quality", "delivery_delay"):
        assert not any(before_award[kind]), kind


def test_a_share_of_integrity_concerns_is_raised_during_the_tender() -> None:
    process = _Process(
        ocid="P",
        tendered=datetime(2025, 3, 1),
        awarded=datetime(2025, 3, 20),
        supplier_id="S",
        supplier_name="",
        category="",
        material="钢材",
        delivery_late_days=0,
    )
    rng = np.random.default_rng(0)
    late = timedelta(days=40)
    times = [_submitted(rng, "integrity_concern", process, late) for _ in range(2000)]
    during = [process.tendered <= t < process.awarded for t in times]
    assert sum(during) / len(times) == pytest.approx(INTEGRITY_DURING_TENDER_SHARE, abs=0.03)
    assert all(t == process.awarded + late for t, d in zip(times, during, strict=True) if not d)


def test_reader_stores_every_report_protected(
    small_world: tuple[Path, Path], store: Store, personal: PersonalData
) -> None:
    world, _ = small_world
    store.ensure_schema()
    report = ingest_file(store, personal, "feedback_reports", world / REPORTS_FILE)
    assert report.quarantined == 0
    assert report.accepted == len(_csv(world / REPORTS_FILE))
    stored = store.query(
        "SELECT anonymous, reporter_enc, branch_key, route_role, kind, state FROM feedback_reports"
    )
    anonymous = stored[stored["anonymous"]]
    assert anonymous["reporter_enc"].isna().all()
    assert anonymous["branch_key"].isna().all()
    named = stored[~stored["anonymous"]]
    assert named["reporter_enc"].map(lambda token: bytes(token).startswith(b"L1")).all()
    assert set(stored.loc[stored["kind"] == "integrity_concern", "route_role"]) == {"auditor"}


def test_median_resolution_hours_by_branch_and_month(store: Store) -> None:
    store.ensure_schema()
    rows = [
        ("a", "B1", datetime(2025, 3, 1, 8), datetime(2025, 3, 1, 18)),
        ("b", "B1", datetime(2025, 3, 5, 8), datetime(2025, 3, 6, 8)),
        ("c", "B1", datetime(2025, 3, 9, 8), datetime(2025, 3, 10, 20)),
        ("d", "B1", datetime(2025, 4, 1, 8), None),  # unresolved: not counted
        ("e", None, datetime(2025, 3, 1, 8), datetime(2025, 3, 1, 9)),  # anonymous: no branch
    ]
    for report_id, branch, submitted, resolved in rows:
        store.connection.execute(
            "INSERT INTO feedback_reports (report_id, branch_key, submitted_at, resolved_at) "
            "VALUES (?, ?, ?, ?)",
            [report_id, branch, submitted, resolved],
        )
    figures = resolution_hours_by_branch_month(store)
    expected = pd.DataFrame(
        {
            "branch_key": ["B1"],
            "month": ["2025-03"],
            "median_resolution_hours": [24.0],
            "resolved_reports": [3],
        }
    )
    pd.testing.assert_frame_equal(figures, expected, check_dtype=False)
