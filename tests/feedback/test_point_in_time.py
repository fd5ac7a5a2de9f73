"""Report features count only what was submitted before the scoring moment, decayed by age."""

from __future__ import annotations

import pandas as pd
import pytest

from features.procurement.feedback import (
    FEEDBACK_FEATURES,
    PROCESS_REPORTS,
    SUPPLIER_FEATURE,
    feedback_features,
    feedback_reasons,
    process_feedback_reasons,
)

REPORTS = pd.DataFrame(
    {
        "report_id": ["r1", "r2", "r3", "r4"],
        "submitted_at": pd.to_datetime(["2025-01-01", "2025-06-30", "2025-07-01", "2025-08-01"]),
        "kind": ["integrity_concern", "price", "integrity_concern", "integrity_concern"],
        "ocid": [None, "p-old", "p-new", None],
        "supplier_id": ["S1", "S1", "S1", "S2"],
    }
)


def _frame(decision: str) -> pd.DataFrame:
    return pd.DataFrame(
        {"ocid": ["p-new"], "supplier_ids": [["S1"]], "decision_date": pd.to_datetime([decision])}
    )


def test_only_reports_before_the_moment_count() -> None:
    features = feedback_features(_frame("2025-07-01"), REPORTS, half_life_days=180.0)
    assert list(features.columns) == FEEDBACK_FEATURES
    row = features.iloc[0]
    # r1 is 181 days old, r2 a day old; r3 is submitted at the very moment and does not count
    assert row[SUPPLIER_FEATURE["integrity_concern"]] == pytest.approx(0.5 ** (181 / 180))
    assert row[SUPPLIER_FEATURE["price"]] == pytest.approx(0.5 ** (1 / 180))
    assert row[PROCESS_REPORTS] == 0.0
    assert row[SUPPLIER_FEATURE["quality"]] == 0.0  # S2's report is another supplier's


def test_a_later_moment_sees_the_later_reports() -> None:
    before = feedback_features(_frame("2025-07-01"), REPORTS).iloc[0]
    after = feedback_features(_frame("2025-07-02"), REPORTS).iloc[0]
    assert after[PROCESS_REPORTS] > 0 == before[PROCESS_REPORTS]
    assert (
        after[SUPPLIER_FEATURE["integrity_concern"]] > before[SUPPLIER_FEATURE["integrity_concern"]]
    )


def test_future_reports_never_change_past_rows() -> None:
    later = pd.concat(
        [REPORTS, REPORTS.assign(report_id="x", submitted_at=pd.Timestamp("2026-01-01"))]
    )
    pd.testing.assert_frame_equal(
        feedback_features(_frame("2025-07-01"), REPORTS),
        feedback_features(_frame("2025-07-01"), later),
    )


def test_reasons_name_the_kind_in_both_languages() -> None:
    row = {
        str(k): float(v)
        for k, v in feedback_features(_frame("2025-07-02"), REPORTS).iloc[0].items()
    }
    assert any("integrity-concern" in reason for reason in feedback_reasons(row, "en"))
    assert any("廉洁问题" in reason for reason in feedback_reasons(row, "zh"))
    assert feedback_reasons(dict.fromkeys(FEEDBACK_FEATURES, 0.0)) == []


def test_a_warning_shows_the_reports_before_it_was_opened() -> None:
    reasons = process_feedback_reasons(
        REPORTS, ocid="p-new", supplier_ids=["S1"], as_of=pd.Timestamp("2025-07-02")
    )
    assert reasons
    assert all(en and zh for en, zh in reasons)
    assert "integrity-concern" in reasons[0][0]
    assert "廉洁问题" in reasons[0][1]
    before = process_feedback_reasons(
        REPORTS, ocid="p-new", supplier_ids=["S9"], as_of=pd.Timestamp("2025-07-01")
    )
    assert before == []
