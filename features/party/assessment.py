"""The quantified monthly branch assessment (量化考评): what study and party work achieved,
not only that they were logged.

Per branch and month (``YYYY-MM``; statements by their UTC month, meetings by local time):

* ``mastery_gain``: mean over the members who answered that month of the change in their
  estimated mastery from the previous month end (``answer_mastery``: recency-weighted,
  smoothed share of right answers per knowledge point, averaged over the points answered);
  a probability difference, not minutes;
* ``mandatory_completed``: mean over members of the share of the month's mandatory items
  (``content.mandatory_month``) they completed that month; ``mandatory_passed``: the same
  over the month's graded items (``GRADED_FORMATS``; xAPI ``passed``), NaN in a month
  without one;
* ``check_in_only_share``: share of the judged members flagged "check-in without absorption"
  by the judgement whose window covers the month;
* ``meeting_coverage``: share of the members expected at the month's meetings who attended at
  least one;
* ``feedback_resolution_hours``: median hours to resolve the branch's problem reports, read
  from a frame the feedback loop passes (``branch_key, month, median_resolution_hours``);
  missing (NaN) when none is passed.

Small groups. A branch-month with fewer than ``MIN_GROUP_SIZE`` members is ``suppressed``: every
figure, its member count and its trends are NaN. A figure whose own group (members who
answered, judged, were expected, items' takers) is under ``MIN_GROUP_SIZE`` is NaN too, as is a
median or a trend that would be computed from such figures. So no number in the frame is
an aggregate of fewer than five people.

Trends: ``<figure>_trend`` is the figure less the mean of the branch's previous three months'
(unsuppressed) figures; ``<figure>_vs_median`` is the figure less the median over all branches'
unsuppressed figures of the month (the group).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

MIN_GROUP_SIZE = 5
GRADED_FORMATS = frozenset({"quiz"})  # the catalogue formats that are passed or failed
MASTERY_HALF_LIFE_DAYS = 60.0
TREND_MONTHS = 3

# column names of the input frames
MEMBER_KEY = "member_key"
BRANCH_KEY = "branch_key"
MONTH = "month"

FIGURES = (
    "mastery_gain",
    "mandatory_completed",
    "mandatory_passed",
    "check_in_only_share",
    "meeting_coverage",
    "feedback_resolution_hours",
)

# column -> Chinese header of the export
EXPORT_HEADERS: dict[str, str] = {
    "branch": "党支部",
    "month": "月份",
    "members": "党员人数",
    "suppressed": "人数不足五人不予显示",
    "mastery_gain": "掌握度提升",
    "mandatory_completed": "必学内容完成率",
    "mandatory_passed": "必学内容通过率",
    "check_in_only_share": "只打卡不吸收占比",
    "meeting_coverage": "组织生活参会覆盖率",
    "feedback_resolution_hours": "问题反馈办结时长中位数（小时）",
    **{f"{f}_trend": "较前三月变化：" for f in FIGURES},
    **{f"{f}_vs_median": "较全体中位数：" for f in FIGURES},
}


def month_of(values: pd.Series) -> pd.Series:
    """``YYYY-MM`` of timestamps or dates."""
    return pd.to_datetime(values).dt.strftime("%Y-%m")


def month_ends(months: list[str]) -> dict[str, pd.Timestamp]:
    """The first instant after each month (the month's end, exclusive)."""
    return {m: pd.Period(m, freq="M").end_time.normalize() + pd.Timedelta(days=1) for m in months}


def answer_mastery(answers: pd.DataFrame, months: list[str]) -> pd.DataFrame:
    """Estimated mastery per member at each month end: columns ``member_key, month,
    mastery``.

    ``answers``: ``member_key, kp_id, timestamp, success`` (one row per answer and knowledge
    point). Per point: (Σ w·right + 1) / (Σ w + 2) over answers before the month end, each
    weighted ``w = 0.5 ** (age in days / MASTERY_HALF_LIFE_DAYS)`` (older answers count less,
    as forgetting would); a member's mastery is the mean over the points answered so far.
    Only answers before each month end are read: no month sees a later answer.
    """
    out: list[pd.DataFrame] = []
    stamps = pd.to_datetime(answers["timestamp"])
    right = answers["success"].astype(float)
    for month, end in month_ends(months).items():
        before = stamps < end
        if not before.any():
            continue
        age = (end - stamps[before]).dt.total_seconds() / 86_400.0
        weight = np.power(0.5, age / MASTERY_HALF_LIFE_DAYS)
        frame = pd.DataFrame(
            {
                MEMBER_KEY: answers.loc[before, MEMBER_KEY],
                "kp_id": answers.loc[before, "kp_id"],
                "w": weight,
                "wr": weight * right[before],
            }
        )
        per_kp = frame.groupby([MEMBER_KEY, "kp_id"])[["w", "wr"]].sum()
        estimate = (per_kp["wr"] + 1.0) / (per_kp["w"] + 2.0)
        member = estimate.groupby(level=MEMBER_KEY).mean().rename("mastery").reset_index()
        member[MONTH] = month
        out.append(member)
    if not out:
        return pd.DataFrame(columns=[MEMBER_KEY, MONTH, "mastery"])
    return pd.concat(out, ignore_index=True)[[MEMBER_KEY, MONTH, "mastery"]]


def _mean_if_enough(values: pd.DataFrame, value: str) -> pd.Series:
    """Per (branch, month): the mean of ``value`` where at least ``MIN_GROUP_SIZE`` members
    contribute, else NaN."""
    grouped = values.groupby([BRANCH_KEY, MONTH])[value]
    return grouped.mean().where(grouped.count() >= MIN_GROUP_SIZE)


def _active(members: pd.DataFrame, months: list[str]) -> pd.DataFrame:
    """(member, branch, month) for every member of a branch who had joined by the month end."""
    ends = month_ends(months)
    with_branch = members.dropna(subset=[BRANCH_KEY])
    joined = pd.to_datetime(with_branch["joined_on"])
    rows = [
        pd.DataFrame({MEMBER_KEY: with_branch[MEMBER_KEY], BRANCH_KEY: with_branch[BRANCH_KEY]})[
            (joined.isna() | (joined < end)).to_numpy()
        ].assign(**{MONTH: month})
        for month, end in ends.items()
    ]
    return pd.concat(rows, ignore_index=True)


def _mastery_gain(active: pd.DataFrame, mastery: pd.DataFrame, answered: pd.DataFrame) -> pd.Series:
    ordered = mastery.sort_values([MEMBER_KEY, MONTH])
    ordered = ordered.assign(gain=ordered.groupby(MEMBER_KEY)["mastery"].diff())
    studied = answered[[MEMBER_KEY, MONTH]].drop_duplicates()
    gains = active.merge(studied, on=[MEMBER_KEY, MONTH]).merge(ordered, on=[MEMBER_KEY, MONTH])
    return _mean_if_enough(gains.dropna(subset=["gain"]), "gain")


def _mandatory(active: pd.DataFrame, study: pd.DataFrame, content: pd.DataFrame) -> pd.DataFrame:
    items = content.dropna(subset=["mandatory_month"])
    n_items = items.groupby("mandatory_month")["content_id"].nunique()
    graded = items[items["format"].isin(GRADED_FORMATS)]
    n_graded = graded.groupby("mandatory_month")["content_id"].nunique()
    due = study.merge(items[["content_id", "mandatory_month"]], on="content_id")
    due = due[month_of(due["timestamp"]) == due["mandatory_month"]]
    due = due.rename(columns={"mandatory_month": MONTH})
    done = due[due["completion"].fillna(False).astype(bool)]
    passed = due[due["verb"] == "passed"]
    frame = active[active[MONTH].isin(n_items.index)].copy()
    for name, rows, totals in (
        ("mandatory_completed", done, n_items),
        ("mandatory_passed", passed, n_graded),
    ):
        counts = rows.groupby([MEMBER_KEY, MONTH])["content_id"].nunique().rename(name)
        joined = frame.join(counts, on=[MEMBER_KEY, MONTH])[name].fillna(0.0)
        total = frame[MONTH].map(totals).astype(float)  # NaN: nothing graded that month
        frame[name] = joined.to_numpy() / total.to_numpy()
    return pd.DataFrame(
        {
            "mandatory_completed": _mean_if_enough(frame, "mandatory_completed"),
            "mandatory_passed": _mean_if_enough(frame, "mandatory_passed"),
        }
    )


def _check_in(active: pd.DataFrame, judgements: pd.DataFrame, months: list[str]) -> pd.Series:
    ends = month_ends(months)
    rows: list[pd.DataFrame] = []
    start = pd.to_datetime(judgements["window_start"])
    end = pd.to_datetime(judgements["window_end"])
    for month, month_end in ends.items():
        month_start = pd.Period(month, freq="M").start_time
        covers = (start < month_end) & (end > month_start)
        rows.append(judgements.loc[covers, [MEMBER_KEY, "flagged"]].assign(**{MONTH: month}))
    judged = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    if judged.empty:
        return pd.Series(dtype=float)
    judged = judged.drop_duplicates([MEMBER_KEY, MONTH], keep="last")
    judged["flagged"] = judged["flagged"].astype(float)
    return _mean_if_enough(active.merge(judged, on=[MEMBER_KEY, MONTH]), "flagged")


def _meetings(active: pd.DataFrame, attendance: pd.DataFrame) -> pd.Series:
    if attendance.empty:
        return pd.Series(dtype=float)
    frame = attendance.assign(**{MONTH: month_of(attendance["starts_at"])})
    keys = [BRANCH_KEY, MEMBER_KEY, MONTH]
    came = frame.groupby(keys)["attended"].any().astype(float).rename("came").reset_index()
    expected = came.merge(active[[MEMBER_KEY, BRANCH_KEY, MONTH]], on=keys)
    return _mean_if_enough(expected, "came")


def _resolution_hours(feedback: pd.DataFrame) -> pd.Series:
    """Median resolution hours per (branch, month); a median over fewer than
    ``MIN_GROUP_SIZE`` resolved reports (``resolved_reports``, when given) is withheld, since
    a handful of reports can point at the people who made them."""
    indexed = feedback.set_index([BRANCH_KEY, MONTH])
    hours = indexed["median_resolution_hours"].astype(float)
    if "resolved_reports" in indexed:
        hours = hours.where(indexed["resolved_reports"] >= MIN_GROUP_SIZE)
    return hours


def branch_assessment(
    members: pd.DataFrame,
    *,
    months: list[str],
    answers: pd.DataFrame,
    study: pd.DataFrame,
    content: pd.DataFrame,
    judgements: pd.DataFrame,
    attendance: pd.DataFrame,
    feedback: pd.DataFrame | None = None,
    mastery: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per (branch, month) of ``months``; columns ``branch_key, month, members,
    suppressed``, the ``FIGURES`` and their ``_trend`` and ``_vs_median``.

    Frames: ``members`` (``member_key, branch_key, joined_on``); ``answers`` (see
    ``answer_mastery``; ``mastery`` may be passed instead, e.g. from the mastery model);
    ``study`` (``member_key, content_id, verb, timestamp, completion``); ``content``
    (``content_id, format, mandatory_month``); ``judgements`` (``member_key, flagged, window_start,
    window_end``, one judgement run); ``attendance`` (``branch_key, member_key, starts_at,
    attended``); ``feedback`` (``branch_key, month, median_resolution_hours``) or None.
    """
    months = sorted(months)
    active = _active(members, months)
    if mastery is None:
        mastery = answer_mastery(answers, months)
    answered = answers.assign(**{MONTH: month_of(answers["timestamp"])})
    sizes = active.groupby([BRANCH_KEY, MONTH]).size().rename("members")
    figures = pd.DataFrame(index=sizes.index)
    figures["mastery_gain"] = _mastery_gain(active, mastery, answered)
    figures = figures.join(_mandatory(active, study, content))
    figures["check_in_only_share"] = _check_in(active, judgements, months)
    figures["meeting_coverage"] = _meetings(active, attendance)
    if feedback is not None and not feedback.empty:
        figures["feedback_resolution_hours"] = _resolution_hours(feedback)
    else:
        figures["feedback_resolution_hours"] = np.nan
    frame = figures.join(sizes).reset_index()
    frame["suppressed"] = frame["members"] < MIN_GROUP_SIZE
    frame.loc[frame["suppressed"], [*FIGURES, "members"]] = np.nan
    frame = frame.sort_values([BRANCH_KEY, MONTH], kind="stable").reset_index(drop=True)
    for figure in FIGURES:
        values = frame[figure].astype(float)
        previous = values.groupby(frame[BRANCH_KEY]).transform(
            lambda s: s.shift(1).rolling(TREND_MONTHS, min_periods=1).mean()
        )
        frame[f"{figure}_trend"] = values - previous
        frame[f"{figure}_vs_median"] = values - values.groupby(frame[MONTH]).transform("median")
    columns = [BRANCH_KEY, MONTH, "members", "suppressed", *FIGURES]
    columns += [f"{f}_{s}" for f in FIGURES for s in ("trend", "vs_median")]
    return frame[columns]


def assessment_csv(frame: pd.DataFrame, branch_names: dict[str, str] | None = None) -> bytes:
    """The export the party-work office files: UTF-8 with a BOM (Excel on Chinese Windows
    opens it as is), Chinese headers, shares as percentages with one decimal, suppressed rows
    marked and left blank. ``branch_names`` maps branch keys to names (the key otherwise)."""
    names = branch_names or {}
    out = frame.copy()
    out.insert(0, "branch", out.pop(BRANCH_KEY).map(lambda key: names.get(key, key)))
    out["suppressed"] = np.where(out["suppressed"], "是", "")
    for column in out.columns:
        if column in {"branch", MONTH, "suppressed"}:
            continue
        values = out[column].astype(float)
        if column == "members":
            out[column] = values.map(lambda v: "" if np.isnan(v) else f"{int(v)}")
        elif column.startswith(("feedback_resolution_hours", "mastery_gain")):
            out[column] = values.map(lambda v: "" if np.isnan(v) else f"{v:.3f}")
        else:
            out[column] = values.map(lambda v: "" if np.isnan(v) else f"{100 * v:.1f}%")
    headers = []
    for column in out.columns:
        header = EXPORT_HEADERS.get(column, column)
        if header.endswith("："):
            base = column.rsplit("_", 2 if column.endswith("_vs_median") else 1)[0]
            header = header + EXPORT_HEADERS[base]
        headers.append(header)
    out.columns = headers
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, lineterminator="\r\n")
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
