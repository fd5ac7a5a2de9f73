"""What the recommender knows at one moment, and the candidate items it ranks.

``LearningData`` holds the three frames the recommender reads (statements, content, members),
from the store or built by hand. ``Snapshot.build(data, as_of)`` turns everything strictly
before ``as_of`` into dense member × item and member × KP matrices (the default world has
2,000 members, 500 items and 60 KPs: a few MB each), so that features for every member are a
handful of array operations. Nothing at or after ``as_of`` is read: statements are cut at it,
and content published after it does not exist yet.

Candidate sources (``candidate_sources``), each over the items a member has not launched yet:

* ``role_popular``: the most launched items among members of the same role (last 90 days);
* ``together``: items studied together with the member's own (co-occurrence, Jaccard) and
  EASE's top items;
* ``weak_kp``: items on the member's weakest knowledge points (from the mastery estimate);
* ``mandatory``: this month's mandatory items the member has not completed;
* ``new_content``: items published in the last 60 days, by how well their KPs match what the
  member studies or is weak on (new items have no interactions, so co-occurrence and EASE
  cannot find them);
* cold start: a member with fewer than ``COLD_START_LAUNCHES`` launches gets more of
  ``role_popular`` and all of ``mandatory`` (their other sources are empty or noise).

Mastery and check-in: pass a fitted ``features.learning.mastery.MasteryModel`` as ``mastery``
to ``Snapshot.build``: P(correct) per member and KP comes from its ``mastery_profiles`` over
the event frame (``LearningData.events``, ``kt_features.build_events``) cut at ``as_of``, and
the "check-in without absorption" flag from ``features.learning.checkin.detect_check_in``
over the ``CHECK_IN_DAYS`` before ``as_of`` with the same model. ``SuccessRateMastery`` (a
smoothed, recency-weighted per-KP success rate) and the time-ratio rule (median logged time ≥
``CHECK_IN_TIME_RATIO`` × the content's minutes) are only the cold-start fallback: no model
given, or no answered statement before ``as_of`` to trace.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from features.learning.baselines import CooccurrenceRecommender, EASERecommender
from features.learning.checkin import detect_check_in
from features.learning.kt_features import (
    CORRECT,
    ITEM,
    KIND,
    KP,
    MEMBER,
    MINUTES,
    ORDER,
    PROBE,
    RESPONSE,
    STATED_DIFFICULTY,
    TIMESTAMP,
    build_events,
    sort_events,
)
from features.rosters import RosterError, next_free_window

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

MEMBER_KEY, CONTENT_ID, KP_ID = "member_key", "content_id", "kp_id"
FORMATS: tuple[str, ...] = ("video", "article", "case", "quiz", "live")
PRACTICE_FORMATS = ("quiz", "case")
SOURCES: tuple[str, ...] = ("role_popular", "together", "weak_kp", "mandatory", "new_content")

COLD_START_LAUNCHES = 3
POPULARITY_DAYS = 90
NEW_CONTENT_DAYS = 60
HISTORY_DAYS = 365
MASTERY_HALF_LIFE_DAYS = 120.0
MASTERY_PRIOR_STRENGTH = 4.0  # pseudo-answers at the member's overall rate
CHECK_IN_TIME_RATIO = 1.8  # fallback rule: logged ÷ expected minutes (median) above this
CHECK_IN_DAYS = 90  # detect_check_in's window: the days before as_of
LOCAL_OFFSET = timedelta(hours=8)  # statements are UTC; rosters are Asia/Shanghai wall time
EASE_L2 = 200.0

STATEMENT_COLUMNS = (
    MEMBER_KEY,
    "verb",
    CONTENT_ID,
    "knowledge_points",
    "success",
    "duration_seconds",
    "timestamp",
)
CONTENT_COLUMNS = (
    CONTENT_ID,
    "title",
    "knowledge_points",
    "format",
    "minutes",
    "difficulty",
    "mandatory_month",
    "published_on",
)
OPTIONAL_STATEMENT_COLUMNS = ("object_id", "item_difficulty")  # defaults: content id, NaN
MEMBER_COLUMNS = (MEMBER_KEY, "role", "shift_pattern", "crew", "joined_on")


class LearningDataError(ValueError):
    """A frame lacks a column the recommender needs."""


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise LearningDataError(f"{name} lacks column(s) {missing}")


@dataclass
class LearningData:
    """Statements (UTC timestamps), content and members, as the store holds them.

    ``statements`` may also carry ``object_id`` (the question or activity IRI) and
    ``item_difficulty`` (``OPTIONAL_STATEMENT_COLUMNS``, read by the mastery model); without
    them the content id and NaN stand in."""

    statements: pd.DataFrame
    content: pd.DataFrame
    members: pd.DataFrame
    _events: pd.DataFrame | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _require(self.statements, STATEMENT_COLUMNS, "statements")
        _require(self.content, CONTENT_COLUMNS, "content")
        _require(self.members, MEMBER_COLUMNS, "members")
        self.statements = self.statements.copy()
        self.statements["timestamp"] = pd.to_datetime(self.statements["timestamp"])
        # True / False / missing as 1.0 / 0.0 / NaN, whatever the source's nullable dtype
        raw = self.statements["success"].astype(object)
        missing = raw.isna().to_numpy()
        right = raw.where(~missing, False).astype(bool).to_numpy(dtype=float)
        self.statements["success"] = np.where(missing, np.nan, right)
        if "object_id" not in self.statements.columns:
            self.statements["object_id"] = self.statements[CONTENT_ID]
        else:
            no_object = self.statements["object_id"].isna()
            if no_object.any():
                self.statements.loc[no_object, "object_id"] = self.statements.loc[
                    no_object, CONTENT_ID
                ]
        if "item_difficulty" not in self.statements.columns:
            self.statements["item_difficulty"] = np.nan
        self.content = self.content.copy()
        self.content["published_on"] = pd.to_datetime(self.content["published_on"])
        self.content["knowledge_points"] = self.content["knowledge_points"].map(_as_list)
        self.members = self.members.copy()
        self.members["joined_on"] = pd.to_datetime(self.members["joined_on"])

    @classmethod
    def from_store(cls, store: Any) -> LearningData:
        """Read the three tables (no personal columns: only pseudonyms and roster fields)."""
        return cls(
            statements=store.query(
                "SELECT member_key, verb, content_id, knowledge_points, success, "
                "duration_seconds, timestamp, object_id, item_difficulty FROM statements "
                "ORDER BY timestamp"
            ),
            content=store.query(
                "SELECT content_id, title, knowledge_points, format, minutes, difficulty, "
                "mandatory_month, published_on FROM content ORDER BY content_id"
            ),
            members=store.query(
                "SELECT member_key, role, shift_pattern, crew, joined_on FROM members "
                "ORDER BY member_key"
            ),
        )

    def with_statements(self, extra: pd.DataFrame) -> LearningData:
        """A copy with ``extra`` statements appended (the simulation's study sessions)."""
        columns = [*STATEMENT_COLUMNS, *(c for c in OPTIONAL_STATEMENT_COLUMNS if c in extra)]
        combined = pd.concat([self.statements, extra[columns]], ignore_index=True)
        out = LearningData(combined, self.content, self.members)
        if self._events is not None:  # extend the event frame instead of rebuilding it
            added = out.statements.iloc[len(self.statements) :]
            new_events = build_events(added)
            new_events[ORDER] = new_events[ORDER] + len(self.statements)
            out._events = sort_events(pd.concat([self._events, new_events], ignore_index=True))
        return out

    def events(self) -> pd.DataFrame:
        """The knowledge-tracing event frame of all statements (``build_events``; cached)."""
        if self._events is None:
            self._events = build_events(self.statements)
        return self._events


def _as_list(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


class MasteryEstimator(Protocol):
    def mastery_profile(self, events: pd.DataFrame, kps: Sequence[str], as_of: datetime) -> Any: ...


@dataclass
class SuccessRateMastery:
    """Recency-weighted success rate per KP, shrunk towards the member's overall rate (which
    is shrunk towards everyone's): the stand-in for the knowledge-tracing model."""

    half_life_days: float = MASTERY_HALF_LIFE_DAYS
    prior_strength: float = MASTERY_PRIOR_STRENGTH

    def mastery_matrix(
        self,
        events: pd.DataFrame,
        member_keys: Sequence[str],
        kps: Sequence[str],
        as_of: datetime,
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``(p_correct, attempts, days_since_practised)``, each ``(n_members, n_kps)``;
        attempts are recency-weighted, days are ``inf`` when never practised."""
        n, m = len(member_keys), len(kps)
        p = np.full((n, m), 0.5)
        attempts = np.zeros((n, m))
        since = np.full((n, m), np.inf)
        answers = events[(events["verb"] == "answered") & (events["timestamp"] < as_of)]
        answers = answers[answers["success"].notna()]
        if answers.empty:
            return p, attempts, since
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
        successes = np.zeros((n, m))
        np.add.at(successes, (rows, cols), weight * right)
        np.minimum.at(since, (rows, cols), age_days)
        overall = successes.sum() / max(attempts.sum(), 1e-9)
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


def _events_before(data: LearningData, as_of: pd.Timestamp) -> pd.DataFrame:
    events = data.events()
    return events[events[TIMESTAMP] < as_of]


def _profile_matrices(
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


def batch_profiles(
    model: Any,
    events: pd.DataFrame,
    kps: Sequence[str],
    as_of: pd.Timestamp | str,
    *,
    members: Sequence[str],
) -> pd.DataFrame:
    """``MasteryModel.mastery_profiles(events, kps, as_of, members=members)``, the same rows
    and numbers (tested), with the probe rows built in one go rather than one frame per
    learner (that loop is most of the cost for thousands of members)."""
    moment = pd.Timestamp(as_of)
    kp_list = [str(kp) for kp in kps]
    learners = list(dict.fromkeys(members))
    if not learners or not kp_list:
        return pd.DataFrame(columns=[MEMBER_KEY, KP_ID, "p_correct", "attempts", "last_practised"])
    past = events[(events[TIMESTAMP] <= moment) & (events[KIND] != PROBE)]
    n_l, n_k = len(learners), len(kp_list)
    probes = pd.DataFrame(
        {
            MEMBER: np.repeat(np.array(learners, dtype=object), n_k),
            TIMESTAMP: moment,
            ORDER: np.iinfo(np.int64).max,
            KIND: PROBE,
            ITEM: np.tile(np.array([f"probe:{kp}" for kp in kp_list], dtype=object), n_l),
            KP: np.tile(np.array(kp_list, dtype=object), n_l),
            CORRECT: np.nan,
            MINUTES: 0.0,
            STATED_DIFFICULTY: model.reference_difficulty_,
        }
    )
    combined = sort_events(pd.concat([past[past[MEMBER].isin(learners)], probes]))
    matrix = model.matrix(combined)
    probe_rows = matrix[(combined.loc[matrix.index, KIND] == PROBE).to_numpy()]
    keys = combined.loc[probe_rows.index, [MEMBER, KP]]
    practised = past.groupby([MEMBER, KP])[TIMESTAMP].max().rename("last_practised")
    profile = pd.DataFrame(
        {
            MEMBER_KEY: keys[MEMBER].to_numpy(),
            KP_ID: keys[KP].to_numpy(),
            "p_correct": model.booster_.predict(probe_rows, num_threads=1),
            "attempts": probe_rows["kp_attempts"].to_numpy().astype(int),
        }
    )
    profile = profile.merge(
        practised.reset_index().rename(columns={MEMBER: MEMBER_KEY, KP: KP_ID}),
        on=[MEMBER_KEY, KP_ID],
        how="left",
    )
    return profile[[MEMBER_KEY, KP_ID, "p_correct", "attempts", "last_practised"]]


class _ProfileReuse:
    """A ``MasteryModel`` stand-in for ``detect_check_in`` that answers ``mastery_profiles``
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
        if members is None:
            result: pd.DataFrame = self.model.mastery_profiles(events, kp_list, as_of)
            return result
        return batch_profiles(self.model, events, kp_list, as_of, members=list(members))


def month_end(as_of: datetime) -> datetime:
    first_next = (pd.Timestamp(as_of).to_period("M") + 1).to_timestamp()
    return first_next.to_pydatetime()


@dataclass
class Snapshot:
    """Dense state as of ``as_of`` (see the module docstring); rows follow ``member_keys``,
    columns ``items`` (content published before ``as_of``) and ``kps``."""

    as_of: datetime
    member_keys: list[str]
    items: list[str]
    kps: list[str]
    content: pd.DataFrame  # indexed like items
    members: pd.DataFrame  # indexed like member_keys
    item_kp: FloatArray  # (n_items, n_kps) 0/1
    launched: FloatArray  # (n_members, n_items) launch counts in HISTORY_DAYS
    ever_launched: BoolArray  # (n_members, n_items)
    completed: BoolArray  # (n_members, n_items) ever completed
    p_correct: FloatArray  # (n_members, n_kps)
    attempts: FloatArray
    days_since_practised: FloatArray
    role_popularity: FloatArray  # (n_members, n_items) share of the role's members, 90 days
    recent_popularity: FloatArray  # (n_items,) share of all members, 90 days
    item_users: FloatArray  # (n_items,) members who ever launched it
    cooccurrence: FloatArray  # (n_members, n_items)
    ease: FloatArray  # (n_members, n_items)
    format_share: FloatArray  # (n_members, n_formats), smoothed towards the role's
    engagement: FloatArray  # (n_members, n_items) completion rate, same shift type
    kp_interest: FloatArray  # (n_members, n_kps) share of the member's launches per KP
    time_ratio: FloatArray  # (n_members,) median logged ÷ expected minutes (NaN: none)
    check_in: BoolArray  # (n_members,) flagged "check-in without absorption"
    mandatory_now: BoolArray  # (n_items,)
    theme_overlap: FloatArray  # (n_items,) share of the item's KPs among this month's themes
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def member_index(self) -> dict[str, int]:
        return {key: i for i, key in enumerate(self.member_keys)}

    @property
    def n_launches(self) -> FloatArray:
        return self.ever_launched.sum(axis=1).astype(float)

    @classmethod
    def build(
        cls,
        data: LearningData,
        as_of: datetime,
        *,
        mastery: Any | None = None,
        check_in: pd.DataFrame | None = None,
    ) -> Snapshot:
        """Everything strictly before ``as_of``. ``check_in`` (``member_key, flagged``, from
        ``features.learning.checkin.detect_check_in``) overrides the built-in proxy
        (median logged ÷ expected minutes ≥ ``CHECK_IN_TIME_RATIO``)."""
        as_of_ts = pd.Timestamp(as_of)
        content = data.content[data.content["published_on"] < as_of_ts]
        content = content.sort_values(CONTENT_ID).reset_index(drop=True)
        items = content[CONTENT_ID].astype(str).tolist()
        item_index = {item: j for j, item in enumerate(items)}
        kps = sorted({kp for row in content["knowledge_points"] for kp in row})
        kp_index = {kp: j for j, kp in enumerate(kps)}
        members = data.members.sort_values(MEMBER_KEY).reset_index(drop=True)
        member_keys = members[MEMBER_KEY].astype(str).tolist()
        member_index = {key: i for i, key in enumerate(member_keys)}
        n_m, n_i, n_k = len(member_keys), len(items), len(kps)

        item_kp = np.zeros((n_i, n_k))
        for j, row in enumerate(content["knowledge_points"]):
            for kp in row:
                item_kp[j, kp_index[kp]] = 1.0

        past = data.statements[data.statements["timestamp"] < as_of_ts]
        rows_m = past[MEMBER_KEY].map(member_index)
        rows_i = past[CONTENT_ID].map(item_index)
        known = rows_m.notna() & rows_i.notna()
        past = past[known]
        m_idx = rows_m[known].to_numpy(dtype=np.intp)
        i_idx = rows_i[known].to_numpy(dtype=np.intp)
        verbs = past["verb"].to_numpy()
        age_days = (as_of_ts - past["timestamp"]).dt.total_seconds().to_numpy() / 86400.0
        is_launch = verbs == "launched"

        launched = np.zeros((n_m, n_i))
        recent = is_launch & (age_days <= HISTORY_DAYS)
        np.add.at(launched, (m_idx[recent], i_idx[recent]), 1.0)
        ever = np.zeros((n_m, n_i), dtype=bool)
        ever[m_idx[is_launch], i_idx[is_launch]] = True
        completed = np.zeros((n_m, n_i), dtype=bool)
        done = verbs == "completed"
        completed[m_idx[done], i_idx[done]] = True

        past_events = (
            _events_before(data, as_of_ts) if hasattr(mastery, "mastery_profiles") else None
        )
        traced = past_events is not None and bool((past_events[KIND] == RESPONSE).any())
        profiles: pd.DataFrame | None = None
        if traced and n_k and past_events is not None:
            profiles = batch_profiles(mastery, past_events, kps, as_of_ts, members=member_keys)
            p_correct, attempts, since = _profile_matrices(profiles, member_keys, kps, as_of_ts)
        else:  # cold start (or an estimator with the single-learner contract only)
            estimator = (
                mastery
                if mastery is not None and not hasattr(mastery, "mastery_profiles")
                else SuccessRateMastery()
            )
            p_correct, attempts, since = mastery_matrix(
                estimator, data.statements, member_keys, kps, as_of
            )

        popular_window = is_launch & (age_days <= POPULARITY_DAYS)
        recent_seen = np.zeros((n_m, n_i))
        recent_seen[m_idx[popular_window], i_idx[popular_window]] = 1.0
        roles = members["role"].astype(str).to_numpy()
        role_popularity = np.zeros((n_m, n_i))
        for role in np.unique(roles):
            mask = roles == role
            role_popularity[mask] = recent_seen[mask].mean(axis=0)
        recent_popularity = recent_seen.mean(axis=0)
        item_users = ever.sum(axis=0).astype(float)

        binary = (launched > 0).astype(float)
        interactions = pd.DataFrame(
            {"user": np.nonzero(binary)[0].astype(str), "item": np.nonzero(binary)[1].astype(str)}
        )
        cooccurrence = np.zeros((n_m, n_i))
        ease = np.zeros((n_m, n_i))
        if not interactions.empty:
            users = [str(i) for i in range(n_m)]
            cooc_model = CooccurrenceRecommender(similarity="jaccard").fit(interactions)
            ease_model = EASERecommender(l2=EASE_L2).fit(interactions)
            columns = np.array([int(item) for item in cooc_model.items_], dtype=np.intp)
            has_history = binary.sum(axis=1) > 0
            cooccurrence[:, columns] = np.where(has_history[:, None], cooc_model.scores(users), 0.0)
            ease[:, columns] = np.where(has_history[:, None], ease_model.scores(users), 0.0)

        item_format = content["format"].astype(str).to_numpy()
        format_onehot = np.stack([(item_format == f).astype(float) for f in FORMATS], axis=1)
        format_counts = binary @ format_onehot  # (n_m, n_formats)
        role_share = np.zeros_like(format_counts)
        for role in np.unique(roles):
            mask = roles == role
            totals = format_counts[mask].sum(axis=0) + 1.0
            role_share[mask] = totals / totals.sum()
        format_share = (format_counts + 3.0 * role_share) / (
            format_counts.sum(axis=1, keepdims=True) + 3.0
        )

        shift_worker = (members["shift_pattern"].astype(str) != "day").to_numpy()
        engagement = np.zeros((n_m, n_i))
        completed_recent = completed & (launched > 0)
        for group in (False, True):
            mask = shift_worker == group
            tried = binary[mask].sum(axis=0)
            finished = completed_recent[mask].sum(axis=0)
            by_format = (finished @ format_onehot + 1.0) / (tried @ format_onehot + 2.0)
            prior = format_onehot @ by_format
            engagement[mask] = (finished + 5.0 * prior) / (tried + 5.0)

        kp_counts = binary @ item_kp
        kp_interest = kp_counts / np.maximum(kp_counts.sum(axis=1, keepdims=True), 1.0)

        minutes_expected = content["minutes"].to_numpy(dtype=float)
        experienced = (verbs == "experienced") & np.isfinite(
            past["duration_seconds"].to_numpy(dtype=float)
        )
        ratio = past["duration_seconds"].to_numpy(dtype=float)[experienced] / 60.0
        ratio = ratio / np.maximum(minutes_expected[i_idx[experienced]], 1.0)
        time_ratio = (
            pd.Series(ratio).groupby(m_idx[experienced]).median().reindex(range(n_m)).to_numpy()
        )
        check_in_source = "given"
        if check_in is None and profiles is not None and past_events is not None:
            check_in = detect_check_in(
                past_events,
                model=_ProfileReuse(mastery, profiles, as_of_ts),  # type: ignore[arg-type]
                start=as_of_ts - pd.Timedelta(days=CHECK_IN_DAYS),
                end=as_of_ts,
            )
            check_in_source = "detect_check_in"
        if check_in is not None:
            flagged_keys = set(check_in.loc[check_in["flagged"].astype(bool), MEMBER_KEY])
            flags = np.array([key in flagged_keys for key in member_keys], dtype=bool)
        else:
            check_in_source = "time_ratio"
            flags = np.nan_to_num(time_ratio, nan=0.0) >= CHECK_IN_TIME_RATIO

        month = as_of_ts.strftime("%Y-%m")
        mandatory_now = (content["mandatory_month"].astype(str) == month).to_numpy()
        theme_kps = item_kp[mandatory_now].sum(axis=0) > 0
        n_item_kps = np.maximum(item_kp.sum(axis=1), 1.0)
        theme_overlap = (item_kp @ theme_kps.astype(float)) / n_item_kps

        return cls(
            as_of=as_of_ts.to_pydatetime(),
            member_keys=member_keys,
            items=items,
            kps=kps,
            content=content,
            members=members,
            item_kp=item_kp,
            launched=launched,
            ever_launched=ever,
            completed=completed,
            p_correct=p_correct,
            attempts=attempts,
            days_since_practised=since,
            role_popularity=role_popularity,
            recent_popularity=recent_popularity,
            item_users=item_users,
            cooccurrence=cooccurrence,
            ease=ease,
            format_share=format_share,
            engagement=engagement,
            kp_interest=kp_interest,
            time_ratio=time_ratio,
            check_in=flags,
            mandatory_now=mandatory_now,
            theme_overlap=theme_overlap,
            extras={
                "mastery": "model" if profiles is not None else "stand-in",
                "check_in_source": check_in_source,
                "check_in": check_in,
            },
        )

    # ---- derived matrices -------------------------------------------------------------------

    def kp_gap(self) -> FloatArray:
        """``(n_members, n_items)``: mean of 1 − p_correct over each item's KPs."""
        n_item_kps = np.maximum(self.item_kp.sum(axis=1), 1.0)
        gap: FloatArray = ((1.0 - self.p_correct) @ self.item_kp.T) / n_item_kps[None, :]
        return gap

    def window_minutes(self, at: datetime | None = None) -> FloatArray:
        """Minutes of each member's next free window from their roster (NaN if unknown)."""
        local = pd.Timestamp(at or self.as_of).to_pydatetime() + LOCAL_OFFSET
        cache: dict[tuple[str, str], float] = {}
        out = np.full(len(self.member_keys), np.nan)
        for i, (pattern, crew) in enumerate(
            zip(self.members["shift_pattern"], self.members["crew"], strict=True)
        ):
            key = (str(pattern), str(crew))
            if key not in cache:
                try:
                    cache[key] = float(next_free_window(key[0], key[1], local)[1])
                except RosterError:
                    cache[key] = math.nan
            out[i] = cache[key]
        return out


def _top_n(scores: FloatArray, allowed: BoolArray, n: int) -> BoolArray:
    """Per row, the ``n`` highest-scoring allowed cells with a positive score."""
    masked = np.where(allowed & (scores > 0), scores, -np.inf)
    n = min(n, scores.shape[1])
    if n <= 0:
        return np.zeros_like(allowed)
    top = np.argpartition(-masked, n - 1, axis=1)[:, :n]
    chosen = np.zeros_like(allowed)
    np.put_along_axis(chosen, top, True, axis=1)
    return chosen & np.isfinite(masked)


def candidate_sources(
    snapshot: Snapshot, *, per_source: int = 30, rows: Sequence[int] | None = None
) -> dict[str, BoolArray]:
    """Boolean ``(n_rows, n_items)`` per source in ``SOURCES`` (rows: member indices, default
    all); an item may come from several sources. Only items not launched before."""
    index = np.arange(len(snapshot.member_keys)) if rows is None else np.asarray(rows, np.intp)
    unseen = ~snapshot.ever_launched[index]
    cold = snapshot.n_launches[index] < COLD_START_LAUNCHES
    role_n = np.where(cold, 2 * per_source, per_source)
    role_popular = np.zeros_like(unseen)
    for n in np.unique(role_n):
        mask = role_n == n
        role_popular[mask] = _top_n(
            snapshot.role_popularity[index[mask]] + 1e-9, unseen[mask], int(n)
        )
    together = _top_n(snapshot.cooccurrence[index], unseen, per_source) | _top_n(
        snapshot.ease[index], unseen, per_source
    )
    gap = snapshot.kp_gap()[index]
    weak = _top_n(gap + 1e-9, unseen, per_source)
    not_done = ~snapshot.completed[index]
    mandatory = np.broadcast_to(snapshot.mandatory_now, unseen.shape) & not_done
    published = pd.to_datetime(snapshot.content["published_on"])
    age = pd.Timestamp(snapshot.as_of) - published
    fresh = (age <= pd.Timedelta(days=NEW_CONTENT_DAYS)).to_numpy()
    interest = snapshot.kp_interest[index] @ snapshot.item_kp.T
    new_score = (interest + gap) * fresh[None, :]
    new_content = _top_n(new_score + 1e-9 * fresh[None, :], unseen, per_source // 3 or 1)
    return {
        "role_popular": role_popular,
        "together": together,
        "weak_kp": weak,
        "mandatory": np.asarray(mandatory, dtype=bool),
        "new_content": new_content,
    }


def item_kp_lists(snapshot: Snapshot) -> Mapping[str, list[str]]:
    return dict(
        zip(
            snapshot.items, (list(kps) for kps in snapshot.content["knowledge_points"]), strict=True
        )
    )
