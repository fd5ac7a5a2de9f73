"""The monthly branch assessment: figures on tiny hand-made branches, and no figure of a group
under five."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.party.assessment import (
    FIGURES,
    MIN_GROUP_SIZE,
    answer_mastery,
    assessment_csv,
    branch_assessment,
)

MONTHS = ["2025-03", "2025-04", "2025-05"]


def _members(sizes: dict[str, int]) -> pd.DataFrame:
    rows = [
        {"member_key": f"{branch}-{i}", "branch_key": branch, "joined_on": "2020-01-01"}
        for branch, size in sizes.items()
        for i in range(size)
    ]
    return pd.DataFrame(rows)


def _world(sizes: dict[str, int]) -> dict[str, pd.DataFrame]:
    """Every member answers right more often each month, completes the month's one
    mandatory item (passes it in May only), is judged (the first of each branch flagged) and
    attends the month's meeting except the last member of each branch."""
    members = _members(sizes)
    answers, study, attendance = [], [], []
    for member in members.itertuples(index=False):
        for m, month in enumerate(MONTHS):
            for k in range(4):
                answers.append(
                    {
                        "member_key": member.member_key,
                        "kp_id": "KP01",
                        "timestamp": pd.Timestamp(f"{month}-10") + pd.Timedelta(hours=k),
                        "success": k <= m,
                    }
                )
            study.append(
                {
                    "member_key": member.member_key,
                    "content_id": f"C{month}",
                    "timestamp": pd.Timestamp(f"{month}-12"),
                    "verb": "passed" if month == "2025-05" else "failed",
                    "completion": True,
                }
            )
            attendance.append(
                {
                    "branch_key": member.branch_key,
                    "member_key": member.member_key,
                    "starts_at": pd.Timestamp(f"{month}-07 16:00"),
                    "attended": not str(member.member_key).endswith(
                        f"-{sizes[str(member.branch_key)] - 1}"
                    ),
                }
            )
    content = pd.DataFrame(
        {
            "content_id": [f"C{m}" for m in MONTHS],
            "format": "quiz",
            "mandatory_month": MONTHS,
        }
    )
    judgements = pd.DataFrame(
        {
            "member_key": members["member_key"],
            "flagged": members["member_key"].str.endswith("-0"),
            "window_start": pd.Timestamp("2025-01-01"),
            "window_end": pd.Timestamp("2026-01-01"),
        }
    )
    return {
        "members": members,
        "answers": pd.DataFrame(answers),
        "study": pd.DataFrame(study),
        "content": content,
        "judgements": judgements,
        "attendance": pd.DataFrame(attendance),
    }


def _assess(sizes: dict[str, int], feedback: pd.DataFrame | None = None) -> pd.DataFrame:
    world = _world(sizes)
    return branch_assessment(world.pop("members"), months=MONTHS, feedback=feedback, **world)


def test_figures_of_a_branch_of_five() -> None:
    frame = _assess({"A": 5}).set_index("month")
    assert frame["members"].tolist() == [5, 5, 5]
    assert frame["mandatory_completed"].tolist() == [1.0, 1.0, 1.0]
    assert frame["mandatory_passed"].tolist() == [0.0, 0.0, 1.0]
    assert frame["check_in_only_share"].tolist() == pytest.approx([0.2, 0.2, 0.2])
    assert frame["meeting_coverage"].tolist() == pytest.approx([0.8, 0.8, 0.8])
    gains = frame["mastery_gain"].astype(float)
    assert np.isnan(gains["2025-03"])  # no earlier month end to gain on
    assert gains["2025-04"] > 0
    assert frame["feedback_resolution_hours"].isna().all()  # no frame passed: missing
    assert frame.loc["2025-05", "mandatory_passed_trend"] == pytest.approx(1.0)


def test_feedback_resolution_is_read_from_the_frame_passed() -> None:
    feedback = pd.DataFrame(
        {"branch_key": ["A"], "month": ["2025-04"], "median_resolution_hours": [30.0]}
    )
    frame = _assess({"A": 6}, feedback).set_index("month")
    assert frame.loc["2025-04", "feedback_resolution_hours"] == 30.0
    assert np.isnan(frame["feedback_resolution_hours"].astype(float)["2025-03"])


def test_no_figure_exposes_a_group_under_five() -> None:
    feedback = pd.DataFrame(
        {
            "branch_key": ["small", "A"],
            "month": ["2025-04", "2025-04"],
            "median_resolution_hours": [12.0, 30.0],
        }
    )
    frame = _assess({"A": 7, "B": 5, "small": MIN_GROUP_SIZE - 1}, feedback)
    small = frame[frame["branch_key"] == "small"]
    assert small["suppressed"].all()
    numbers = [c for c in frame.columns if c not in {"branch_key", "month", "suppressed"}]
    assert small[numbers].isna().all().all()
    shown = frame[~frame["suppressed"]]
    assert (shown["members"] >= MIN_GROUP_SIZE).all()
    # the group median is taken over A and B only: the small branch moves no figure
    without = _assess({"A": 7, "B": 5}, feedback)
    pd.testing.assert_frame_equal(
        shown.reset_index(drop=True)[numbers], without[numbers], check_dtype=False
    )


def test_a_figure_over_a_subgroup_under_five_is_withheld() -> None:
    world = _world({"A": 8})
    only_three = world["judgements"].head(MIN_GROUP_SIZE - 2)
    world["judgements"] = only_three
    frame = branch_assessment(world.pop("members"), months=MONTHS, **world)
    assert frame["check_in_only_share"].isna().all()
    assert frame["meeting_coverage"].notna().all()


def test_mastery_reads_only_answers_before_each_month_end() -> None:
    answers = pd.DataFrame(
        {
            "member_key": ["m"] * 2,
            "kp_id": ["KP01"] * 2,
            "timestamp": [pd.Timestamp("2025-03-05"), pd.Timestamp("2025-04-05")],
            "success": [False, True],
        }
    )
    mastery = answer_mastery(answers, ["2025-03", "2025-04"]).set_index("month")["mastery"]
    weight = 0.5 ** (27 / 60)  # a wrong answer 27 days before the month end
    assert mastery["2025-03"] == pytest.approx(1 / (weight + 2))
    assert mastery["2025-04"] > mastery["2025-03"]


def test_export_has_chinese_headers_a_bom_and_blank_suppressed_rows() -> None:
    frame = _assess({"A": 5, "small": 2})
    text = assessment_csv(frame, {"A": "物资供应中心第一党支部"}).decode("utf-8")
    assert text.startswith("\ufeff党支部,月份,党员人数")
    lines = text.splitlines()
    assert any(line.startswith("物资供应中心第一党支部,2025-05,5,,") for line in lines)
    small = [line for line in lines if line.startswith("small,")]
    assert len(small) == len(MONTHS)
    assert all(set(line.split(",")[2:]) <= {"", "是"} for line in small)
    assert len(FIGURES) == 6


def test_a_resolution_median_over_fewer_than_five_reports_is_withheld() -> None:
    feedback = pd.DataFrame(
        {
            "branch_key": ["A", "A"],
            "month": ["2025-04", "2025-05"],
            "median_resolution_hours": [30.0, 12.0],
            "resolved_reports": [MIN_GROUP_SIZE, MIN_GROUP_SIZE - 1],
        }
    )
    frame = _assess({"A": 6}, feedback).set_index("month")
    assert frame.loc["2025-04", "feedback_resolution_hours"] == 30.0
    assert frame["feedback_resolution_hours"].isna()["2025-05"]
