"""The demo world's reports: read whole, linked to schemes more than to honest processes, late;
and the branch resolution times the assessment reads."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import pandas as pd

from core.security import PersonalData
from ingest.run import ingest_file
from store.database import Store
from store.queries.feedback import resolution_hours_by_branch_month
from world.feedback_reports import REPORTS_FILE, TRUTH_REPORTS


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
