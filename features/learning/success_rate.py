"""Mastery per member and knowledge point (KP) for a snapshot: P(correct) from the
knowledge-tracing model's profiles (``MasteryEstimator``: ``models.learning.mastery``), or from
``SuccessRateMastery`` (a smoothed, recency-weighted per-KP success rate), the cold-start
stand-in when no model is given or no answer precedes ``as_of``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from features.learning.data import KP_ID, MEMBER_KEY, LearningData
from features.learning.kt_features import (
    TIMESTAMP,
)

FloatArray = NDArray[np.float64]

MASTERY_HALF_LIFE_DAYS = 120.0
MASTERY_PRIOR_STRENGTH = 4.0  # pseudo-answers at the member's overall rate


class MasteryEstimator(Protocol):
    def mastery_profile(self, events: pd.DataFrame, kps: Sequence[str], as_of: datetime) -> Any: ...


@dataclass
class SuccessRateMastery:
    """Recency-weighted success rate per KP, shrunk towards the member's overall rate (which
    is shrunk towards everyone's): the stand-in for the knowledge-tracing model."""

    half_life_days: float = MASTERY_HALF_LIFE_DAYS
    prior_strength: float = MASTERY_PRIOR_STRENGTH

    def _weighted(
        self,
        events: pd.DataFrame,
        member_keys: Sequence[str],
        kps: Sequence[str],
        as_of: datetime,
    ) -> tuple[FloatArray, FloatArray, FloatArray, bool]:
        """Recency-weighted attempts and successes, days since the last answer (``inf``
        when none), each ``(n_members, n_kps)``, and whether any answer precedes ``as_of``."""
        n, m = len(member_keys), len(kps)
        attempts = np.zeros((n, m))
        successes = np.zeros((n, m))
        since = np.full((n, m), np.inf)
        answers = events[(events["verb"] == "answered") & (events["timestamp"] < as_of)]
        answers = answers[answers["success"].notna()]
        if answers.empty:
            return attempts, successes, since, False
        member_index = {key: i for i, key in enumerate(member_keys)}
        kp_index = {kp: j for j, kp in enumerate(kps)}
        exploded = answers[[MEMBER_KEY, "knowledge_points", "success", "timestamp"]].explode(
            "knowledge_points"
        )
        row_of = exploded[MEMBER_KEY].map(member_index)
        col_of = exploded["knowledge_points"].map(kp_index)
        keep = row_of.notna() & col_of.notna()
        rows = row_of[keep].to_numpy(dtype=np.intp)
        cols = col_of[keep].to_numpy(dtype=np.intp)
        right = exploded.loc[keep, "success"].astype(bool).to_numpy(dtype=float)
        age = (pd.Timestamp(as_of) - exploded.loc[keep, "timestamp"]).dt.total_seconds()
        age_days = age.to_numpy(dtype=float) / 86400.0
        weight = 0.5 ** (age_days / self.half_life_days)
        np.add.at(attempts, (rows, cols), weight)
        np.add.at(successes, (rows, cols), weight * right)
        np.minimum.at(since, (rows, cols), age_days)
        return attempts, successes, since, True

    def overall_rate(
        self,
        events: pd.DataFrame,
        member_keys: Sequence[str],
        kps: Sequence[str],
        as_of: datetime,
    ) -> float | None:
        """The weighted share right over the answers of ``member_keys`` on ``kps`` before
        ``as_of`` (None when nobody answered): what every member is shrunk towards."""
        attempts, successes, _, answered = self._weighted(events, member_keys, kps, as_of)
        return float(successes.sum() / max(attempts.sum(), 1e-9)) if answered else None

    def mastery_matrix(
        self,
        events: pd.DataFrame,
        member_keys: Sequence[str],
        kps: Sequence[str],
        as_of: datetime,
        *,
        overall: float | None = None,
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``(p_correct, attempts, days_since_practised)``, each ``(n_members, n_kps)``;
        attempts are recency-weighted, days are ``inf`` when never practised. ``overall``:
        the rate to shrink towards (default: ``overall_rate`` of these members; a snapshot
        updating a few members passes everyone's); with neither, every cell is 0.5."""
        attempts, successes, since, answered = self._weighted(events, member_keys, kps, as_of)
        if overall is None and answered:
            overall = float(successes.sum() / max(attempts.sum(), 1e-9))
        if overall is None:
            return np.full(attempts.shape, 0.5), attempts, since
        member_rate = (successes.sum(axis=1) + self.prior_strength * overall) / (
            attempts.sum(axis=1) + self.prior_strength
        )
        p = (successes + self.prior_strength * member_rate[:, None]) / (
            attempts + self.prior_strength
        )
        return p, attempts, since

    def mastery_profile(
        self, events: pd.DataFrame, kps: Sequence[str], as_of: datetime
    ) -> pd.DataFrame:
        """One member's events → ``kp_id, p_correct, attempts, last_practised``."""
        frame = events.assign(**{MEMBER_KEY: "member"})
        p, attempts, since = self.mastery_matrix(frame, ["member"], kps, as_of)
        last = [
            pd.Timestamp(as_of) - pd.Timedelta(days=float(d)) if np.isfinite(d) else pd.NaT
            for d in since[0]
        ]
        return pd.DataFrame(
            {KP_ID: list(kps), "p_correct": p[0], "attempts": attempts[0], "last_practised": last}
        )


def mastery_matrix(
    estimator: Any,
    events: pd.DataFrame,
    member_keys: Sequence[str],
    kps: Sequence[str],
    as_of: datetime,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Batch mastery from any estimator: its ``mastery_matrix`` if it has one, else one
    ``mastery_profile`` call per member (slow, but any contract-conforming model works)."""
    if hasattr(estimator, "mastery_matrix"):
        result: tuple[FloatArray, FloatArray, FloatArray] = estimator.mastery_matrix(
            events, member_keys, kps, as_of
        )
        return result
    n, m = len(member_keys), len(kps)
    p, attempts, since = np.full((n, m), 0.5), np.zeros((n, m)), np.full((n, m), np.inf)
    grouped = dict(tuple(events[events["timestamp"] < as_of].groupby(MEMBER_KEY)))
    empty = events.iloc[0:0]
    for i, key in enumerate(member_keys):
        profile = estimator.mastery_profile(grouped.get(key, empty), list(kps), as_of)
        profile = profile.set_index(KP_ID).reindex(list(kps))
        p[i] = profile["p_correct"].fillna(0.5).to_numpy(dtype=float)
        attempts[i] = profile["attempts"].fillna(0).to_numpy(dtype=float)
        last = pd.to_datetime(profile["last_practised"])
        days = (pd.Timestamp(as_of) - last).dt.total_seconds().to_numpy(dtype=float) / 86400
        since[i] = np.where(np.isfinite(days), days, np.inf)
    return p, attempts, since


def events_before(data: LearningData, as_of: pd.Timestamp) -> pd.DataFrame:
    events = data.events()
    return events[events[TIMESTAMP] < as_of]


def profile_matrices(
    profiles: pd.DataFrame, member_keys: Sequence[str], kps: Sequence[str], as_of: pd.Timestamp
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``MasteryModel.mastery_profiles`` rows → ``(p_correct, attempts, days_since)`` matrices
    (rows ``member_keys``, columns ``kps``; 0.5, 0 and ``inf`` where a cell is missing)."""
    n, m = len(member_keys), len(kps)
    p, attempts, since = np.full((n, m), 0.5), np.zeros((n, m)), np.full((n, m), np.inf)
    rows = profiles[MEMBER_KEY].map({key: i for i, key in enumerate(member_keys)})
    cols = profiles[KP_ID].map({kp: j for j, kp in enumerate(kps)})
    keep = (rows.notna() & cols.notna()).to_numpy()
    r = rows[keep].to_numpy(dtype=np.intp)
    c = cols[keep].to_numpy(dtype=np.intp)
    p[r, c] = profiles.loc[keep, "p_correct"].to_numpy(dtype=float)
    attempts[r, c] = profiles.loc[keep, "attempts"].to_numpy(dtype=float)
    last = pd.to_datetime(profiles.loc[keep, "last_practised"])
    days = ((as_of - last).dt.total_seconds() / 86400.0).to_numpy(dtype=float)
    since[r, c] = np.where(np.isfinite(days), days, np.inf)
    return p, attempts, since


class ProfileReuse:
    """A ``MasteryModel`` stand-in for ``check_in_evidence`` that answers ``mastery_profiles``
    at ``as_of`` from profiles already computed on the same events (every other call goes
    to the model): the detector's end-of-window profile is the snapshot's own."""

    def __init__(self, model: Any, profiles: pd.DataFrame, as_of: pd.Timestamp) -> None:
        self.model = model
        self.profiles = profiles
        self.as_of = as_of

    def mastery_profiles(
        self,
        events: pd.DataFrame,
        kps: Sequence[str],
        as_of: pd.Timestamp | str,
        *,
        members: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        kp_list = [str(kp) for kp in kps]
        if pd.Timestamp(as_of) == self.as_of and members is not None:
            wanted = list(members)
            cached = self.profiles[
                self.profiles[MEMBER_KEY].isin(wanted) & self.profiles[KP_ID].isin(kp_list)
            ]
            if len(cached) == len(set(wanted)) * len(set(kp_list)):
                return cached.reset_index(drop=True)
        result: pd.DataFrame = self.model.mastery_profiles(events, kp_list, as_of, members=members)
        return result
