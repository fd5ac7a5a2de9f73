"""The answers of the study read routes: a member's mastery profile and check-in flag, their
suggestions, and a branch's aggregates.

Moments are UTC; ``as_of`` defaults to now. The time the suggestions must fit is the caller's
``minutes``, else the member's next free window from their roster at the real ``as_of``
(Asia/Shanghai wall time, ``features.rosters``). Branch aggregates are suppressed below
``MIN_GROUP_SIZE`` members.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from core.clock import utc_now
from features.learning.data import LOCAL_OFFSET
from features.online.study import CHECK_IN_DAYS
from features.rosters import RosterError, next_free_window
from serving.api.schemas.learning import (
    BranchMasteryOut,
    CheckInOut,
    DomainMasteryOut,
    KpMasteryOut,
    MasteryOut,
    ReasonOut,
    RecommendationsOut,
    SuggestionOut,
)
from serving.jobs.learning_study import (
    MASTERY_MODEL,
    RECOMMENDER_MODEL,
    Study,
    check_as_of,
)
from serving.live.drift import record_frame, recording

if TYPE_CHECKING:
    pass

MIN_GROUP_SIZE = 5
DRIFT_CANDIDATES = 16  # candidates per suggestion request recorded for drift, at most


def utc_naive(moment: datetime | None) -> datetime:
    """``moment`` as naive UTC (an aware one converted), or now."""
    if moment is None:
        return utc_now()
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _moment(value: Any) -> datetime | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).to_pydatetime()


def roster_window(members: pd.DataFrame, member_key: str, at: datetime) -> float | None:
    """Minutes of the member's next free window at ``at`` (UTC), from their roster."""
    row = members[members["member_key"] == member_key]
    if row.empty:
        return None
    pattern, crew = row.iloc[0]["shift_pattern"], row.iloc[0]["crew"]
    try:
        return float(next_free_window(str(pattern), str(crew), at + LOCAL_OFFSET)[1])
    except RosterError:
        return None


def member_mastery(study: Study, employee_no: str, member_key: str, as_of: datetime) -> MasteryOut:
    """The member's profile on every KP (weakest first) and their check-in flag."""
    data = study.data
    kps = sorted(data.knowledge_points)
    events = data.events_of(member_key)
    drift = recording()
    profile = study.mastery.mastery_profile(events, kps, pd.Timestamp(as_of), with_features=drift)
    if drift:
        metadata = study.mastery.metadata_
        scores = profile["p_correct"].to_numpy(dtype=float)
        record_frame(MASTERY_MODEL, study.mastery_version, metadata, profile, scores)
    rows = []
    for record in profile.to_dict("records"):
        kp = data.knowledge_points[str(record["kp_id"])]
        rows.append(
            KpMasteryOut(
                kp_id=kp.kp_id,
                name_en=kp.name_en,
                name_zh=kp.name_zh,
                domain=kp.domain,
                p_correct=min(max(float(record["p_correct"]), 0.0), 1.0),
                attempts=int(record["attempts"]),
                last_practised=_moment(record["last_practised"]),
            )
        )
    rows.sort(key=lambda row: (row.p_correct, row.kp_id))
    detected, (start, end) = data.check_in_of(member_key)
    return MasteryOut(
        employee_no=employee_no,
        as_of=as_of,
        knowledge_points=rows,
        check_in=_check_in_out(detected, start, end),
        model=study.mastery_ref,
    )


def _check_in_out(detected: pd.Series | None, start: datetime, end: datetime) -> CheckInOut:
    if detected is None:
        return CheckInOut(
            flagged=False,
            score=None,
            logged_minutes=0.0,
            mastery_gain=None,
            successes_per_hour=None,
            reasons=[f"no study time logged in the {CHECK_IN_DAYS} days to {end:%Y-%m-%d}"],
            window_start=start,
            window_end=end,
        )
    return CheckInOut(
        flagged=bool(detected["flagged"]),
        score=_finite(detected["check_in_score"]),
        logged_minutes=float(detected["logged_minutes"]),
        mastery_gain=_finite(detected["mastery_gain"]),
        successes_per_hour=_finite(detected["successes_per_hour"]),
        reasons=[str(reason) for reason in detected["reasons"]],
        window_start=start,
        window_end=end,
    )


def recommendations(
    study: Study,
    employee_no: str,
    member_key: str,
    *,
    k: int,
    minutes: float | None,
    as_of: datetime | None,
) -> RecommendationsOut:
    """Up to ``k`` suggestions with their reasons. ``as_of`` None: now, with every statement
    stored so far (the snapshot is as of the end of the current hour)."""
    moment = utc_naive(as_of)
    if as_of is not None:
        check_as_of(moment, utc_now(), study.as_of_max_age)
    snapshot = study.snapshot_for(member_key, None if as_of is None else moment)
    source = "request"
    if minutes is None:
        minutes = roster_window(snapshot.members, member_key, moment)
        source = "roster" if minutes is not None else "none"
    suggestions = study.recommender.recommend(
        member_key,
        k=k,
        minutes=minutes,
        context=snapshot,
        on_scored=_drift_recorder(study) if recording() else None,
    )
    items = [
        SuggestionOut(
            rank=rank,
            content_id=s.content_id,
            title=s.title,
            format=s.format,
            minutes=s.minutes,
            knowledge_points=list(s.knowledge_points),
            score=s.score,
            reasons=[
                ReasonOut(
                    kind=str(r.get("kind")),
                    kp_id=r.get("kp_id"),
                    text_en=str(r.get("text_en")),
                    text_zh=str(r.get("text_zh")),
                )
                for r in s.reasons
            ],
        )
        for rank, s in enumerate(suggestions[:k], 1)
    ]
    return RecommendationsOut(
        employee_no=employee_no,
        as_of=moment,
        k=k,
        minutes=minutes,
        minutes_source=source,  # type: ignore[arg-type]
        items=items,
        model=study.recommender_ref,
        mastery_model=study.mastery_ref,
    )


def _drift_recorder(study: Study) -> Callable[[pd.DataFrame, npt.NDArray[np.float64]], None]:
    """Records at most ``DRIFT_CANDIDATES`` of a request's candidates (evenly spaced over the
    candidate frame, whose order is the items', not the scores') with the ranker's raw
    scores: the cost per request stays a few hundred values whatever the candidate count."""

    def record(features: pd.DataFrame, raw: npt.NDArray[np.float64]) -> None:
        if not len(raw):
            return
        chosen = np.unique(np.linspace(0, len(raw) - 1, DRIFT_CANDIDATES).astype(np.intp))
        metadata = study.recommender.metadata_
        sample = features.iloc[chosen]
        record_frame(RECOMMENDER_MODEL, study.recommender_version, metadata, sample, raw[chosen])

    return record


def branch_mastery(study: Study, member_keys: Iterable[str], as_of: datetime) -> BranchMasteryOut:
    """Counts, mean mastery per KP domain and the check-in share of the branch's members;
    nothing when the branch has fewer than ``MIN_GROUP_SIZE`` members."""
    keys = sorted(set(member_keys))
    if len(keys) < MIN_GROUP_SIZE:
        return BranchMasteryOut(
            as_of=as_of,
            min_group_size=MIN_GROUP_SIZE,
            suppressed=True,
            members=None,
            members_with_study=None,
            check_in_flagged=None,
            check_in_share=None,
            domains=[],
            model=study.mastery_ref,
        )
    data = study.data
    data.current()
    events = pd.concat([data.events_of(key) for key in keys], ignore_index=True)
    kps = sorted(data.knowledge_points)
    profiles = study.mastery.mastery_profiles(events, kps, pd.Timestamp(as_of), members=keys)
    domain = profiles["kp_id"].map(lambda kp: data.knowledge_points[kp].domain or "other")
    by_domain = profiles.assign(domain=domain).groupby("domain")
    domains = [
        DomainMasteryOut(
            domain=str(name),
            knowledge_points=int(group["kp_id"].nunique()),
            mean_p_correct=float(np.clip(group["p_correct"].mean(), 0.0, 1.0)),
        )
        for name, group in by_domain
    ]
    check_in = data.check_in[data.check_in["member_key"].isin(keys)]
    with_study = len(check_in)
    flagged = int(check_in["flagged"].astype(bool).sum())
    return BranchMasteryOut(
        as_of=as_of,
        min_group_size=MIN_GROUP_SIZE,
        suppressed=False,
        members=len(keys),
        members_with_study=with_study,
        check_in_flagged=flagged,
        check_in_share=flagged / with_study if with_study else None,
        domains=domains,
        model=study.mastery_ref,
    )


# --------------------------------------------------------------------------------------------
# Posted statements
