"""Check-in without absorption: members who log much study time and whose mastery barely moves.

Per member, over a window ``[start, end)`` of the event frame (``kt_features.build_events``):

* ``logged_minutes``: the study minutes logged in the window (``study`` rows);
* ``mastery_gain``: the mean, over the KPs the member studied or answered in the window, of
  ``MasteryModel.mastery_profile`` at ``end`` minus at ``start`` (NaN without a model, or
  for a member with no KP in the window);
* ``successes_per_hour``: right answers in the window per logged hour (evidence of learning
  that needs no model: a member who answers at chance, or dodges the quizzes, shows few).

``check_in_score`` (0..1, higher = more suspicious) is the product of the member's percentile
in logged minutes and one minus their percentile in learning evidence (the mean of the
percentiles of ``mastery_gain`` and ``successes_per_hour`` when both exist). A member is
``flagged`` when their logged minutes are in the top ``1 - high_time_quantile`` share (top
third by default) and their evidence is low: ``successes_per_hour`` below
``min_successes_per_hour`` and (with a model) ``mastery_gain`` below ``min_gain``.
``reasons`` names what fired, in plain English (a list of strings). The recommender reads
the flag (more practice and short quizzes, fewer long videos); nothing here reads the demo
world's truth.

The parts, for flagging a few members against everyone's threshold without rerunning the
whole window: ``check_in_evidence`` (per member, from that member's events only),
``high_time_minutes`` (the only figure that depends on the other members) and
``check_in_flags``; ``detect_check_in`` is the three in a row plus the score and reasons.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import numpy as np
import pandas as pd

from features.learning.kt_features import (
    CORRECT,
    KIND,
    KP,
    MEMBER,
    MINUTES,
    RESPONSE,
    STUDY,
    TIMESTAMP,
)


class MasteryModel(Protocol):
    """What the detector needs of a mastery model (``models.learning.mastery.MasteryModel``
    has it): P(correct) per member and KP as of an instant, from the events before it."""

    def mastery_profiles(
        self,
        events: pd.DataFrame,
        kps: Iterable[str],
        as_of: pd.Timestamp | str,
        *,
        members: Iterable[str] | None = None,
    ) -> pd.DataFrame: ...


CHECK_IN_COLUMNS = (
    "member_key",
    "check_in_score",
    "flagged",
    "logged_minutes",
    "mastery_gain",
    "reasons",
)
HIGH_TIME_QUANTILE = 2 / 3
MIN_GAIN = 0.01
MIN_SUCCESSES_PER_HOUR = 1.0


def detect_check_in(
    events: pd.DataFrame,
    *,
    model: MasteryModel | None = None,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
    high_time_quantile: float = HIGH_TIME_QUANTILE,
    min_gain: float = MIN_GAIN,
    min_successes_per_hour: float = MIN_SUCCESSES_PER_HOUR,
) -> pd.DataFrame:
    """One row per member with study time in the window: ``CHECK_IN_COLUMNS`` plus
    ``successes_per_hour`` and ``answers``, most suspicious first.

    ``start`` defaults to the first event, ``end`` to just after the last one. Members
    without logged study in the window are left out (nothing to check).
    """
    return rank_evidence(
        check_in_evidence(events, model=model, start=start, end=end),
        high_time_quantile=high_time_quantile,
        min_gain=min_gain,
        min_successes_per_hour=min_successes_per_hour,
    )


def rank_evidence(
    result: pd.DataFrame,
    *,
    high_time_quantile: float = HIGH_TIME_QUANTILE,
    min_gain: float = MIN_GAIN,
    min_successes_per_hour: float = MIN_SUCCESSES_PER_HOUR,
) -> pd.DataFrame:
    """``detect_check_in``'s answer from ``check_in_evidence`` (one row per member, indexed
    by member key; every member's: the ranks and the time threshold are over all of them)."""
    if result.empty:
        return pd.DataFrame(columns=[*CHECK_IN_COLUMNS, "successes_per_hour", "answers"])
    result = result.copy()
    time_rank = result["logged_minutes"].rank(pct=True)
    evidence_ranks = [result["successes_per_hour"].rank(pct=True)]
    if result["mastery_gain"].notna().any():
        evidence_ranks.append(result["mastery_gain"].rank(pct=True).fillna(0.5))
    evidence = pd.concat(evidence_ranks, axis=1).mean(axis=1)
    result["check_in_score"] = time_rank * (1.0 - evidence)

    threshold = high_time_minutes(result, high_time_quantile)
    high_time = result["logged_minutes"] >= threshold
    low_gain = result["mastery_gain"] < min_gain
    low_successes = result["successes_per_hour"] < min_successes_per_hour
    result["flagged"] = check_in_flags(
        result,
        high_time_minutes=threshold,
        min_gain=min_gain,
        min_successes_per_hour=min_successes_per_hour,
    )
    result["reasons"] = [
        _reasons(row, high, gain, successes, min_gain, min_successes_per_hour)
        for row, high, gain, successes in zip(
            result.itertuples(), high_time, low_gain, low_successes, strict=True
        )
    ]
    result = result.reset_index(names=MEMBER)
    ordered = result.sort_values("check_in_score", ascending=False, kind="stable")
    return ordered[[*CHECK_IN_COLUMNS, "successes_per_hour", "answers"]].reset_index(drop=True)


def check_in_evidence(
    events: pd.DataFrame,
    *,
    model: MasteryModel | None = None,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """Per member with study time in ``[start, end)`` (the index): ``logged_minutes``,
    ``answers``, ``successes_per_hour`` and ``mastery_gain`` (NaN without a model). Each row
    reads that member's events only, so ``events`` may hold a few members or everyone."""
    times = events[TIMESTAMP]
    begin = pd.Timestamp(start) if start is not None else times.min()
    finish = pd.Timestamp(end) if end is not None else times.max() + pd.Timedelta(seconds=1)
    window = events[(times >= begin) & (times < finish)]
    study = window[window[KIND] == STUDY]
    logged = study.groupby(MEMBER)[MINUTES].sum()
    logged = logged[logged > 0]
    if logged.empty:
        return pd.DataFrame(
            columns=["logged_minutes", "answers", "successes_per_hour", "mastery_gain"]
        )
    answers = window[window[KIND] == RESPONSE].groupby(MEMBER)[CORRECT].agg(["count", "sum"])
    answers = answers.reindex(logged.index, fill_value=0)
    result = pd.DataFrame(
        {
            "logged_minutes": logged,
            "answers": answers["count"].astype(int),
            "successes_per_hour": answers["sum"] / (logged / 60.0),
        }
    )
    result["mastery_gain"] = (
        _mastery_gain(events, window, model, begin, finish) if model is not None else np.nan
    )
    result["mastery_gain"] = result["mastery_gain"].reindex(result.index)
    return result


def high_time_minutes(evidence: pd.DataFrame, quantile: float = HIGH_TIME_QUANTILE) -> float:
    """The logged minutes from which a member is in the top ``1 - quantile`` share of
    ``evidence`` (every member with study time in the window: the one relative part)."""
    return float(evidence["logged_minutes"].quantile(quantile))


def check_in_flags(
    evidence: pd.DataFrame,
    *,
    high_time_minutes: float,
    min_gain: float = MIN_GAIN,
    min_successes_per_hour: float = MIN_SUCCESSES_PER_HOUR,
) -> pd.Series:
    """``flagged`` per row of ``evidence``: logged minutes at least ``high_time_minutes``,
    successes per hour below the minimum and (with a model's gain) mastery gain too."""
    high_time = evidence["logged_minutes"] >= high_time_minutes
    low_gain = evidence["mastery_gain"] < min_gain
    low_successes = evidence["successes_per_hour"] < min_successes_per_hour
    # both kinds of evidence must be low when the model gives a gain (either alone is noisy)
    flagged: pd.Series = high_time & low_successes & (low_gain | evidence["mastery_gain"].isna())
    return flagged


def _mastery_gain(
    events: pd.DataFrame,
    window: pd.DataFrame,
    model: MasteryModel,
    begin: pd.Timestamp,
    finish: pd.Timestamp,
) -> pd.Series:
    """Per member: mean change of the mastery profile over the KPs touched in the window."""
    touched = window[[MEMBER, KP]].drop_duplicates()
    kps = sorted(touched[KP].unique())
    members = touched[MEMBER].unique().tolist()
    relevant = events[events[MEMBER].isin(members)]
    before = model.mastery_profiles(relevant, kps, begin, members=members)
    after = model.mastery_profiles(relevant, kps, finish, members=members)
    change = before[[MEMBER, "kp_id", "p_correct"]].merge(
        after[[MEMBER, "kp_id", "p_correct"]], on=[MEMBER, "kp_id"], suffixes=("_start", "_end")
    )
    change = change.merge(touched.rename(columns={KP: "kp_id"}), on=[MEMBER, "kp_id"])
    gain = change["p_correct_end"] - change["p_correct_start"]
    return gain.groupby(change[MEMBER]).mean()


def _reasons(
    row: object,
    high_time: bool,
    low_gain: bool,
    low_successes: bool,
    min_gain: float,
    min_successes_per_hour: float,
) -> list[str]:
    reasons = []
    minutes = float(getattr(row, "logged_minutes"))  # noqa: B009
    if high_time:
        reasons.append(f"logged {minutes:.0f} study minutes (top third of members)")
    gain = float(getattr(row, "mastery_gain"))  # noqa: B009
    if low_gain:
        reasons.append(f"mastery moved {gain:+.3f} (below {min_gain:+.3f}) on the KPs studied")
    if low_successes:
        per_hour = float(getattr(row, "successes_per_hour"))  # noqa: B009
        reasons.append(
            f"{per_hour:.2f} right answers per logged hour (below {min_successes_per_hour:g})"
        )
    return reasons
