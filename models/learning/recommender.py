"""The study recommender: candidates, LightGBM LambdaRank, re-ranking, reasons in zh and en.

Pipeline for one moment ``as_of`` (``Snapshot.build``, nothing at or after it is read):

1. candidates (``features.learning.candidates.candidate_sources``): role popularity, items
   studied together (co-occurrence and EASE), the member's weakest KPs, this month's
   mandatory items, new content; items the member launched before are never candidates
   (a study item is done once; mandatory items already launched but not completed are left
   to the platform's own reminders);
2. ranking features per (member, item), ``FEATURES``: the mastery gap on the item's KPs,
   predicted engagement (completion rate of members on the same kind of roster, smoothed by
   format), minutes against the member's next free roster window (or the caller's
   ``minutes``), difficulty against ability, novelty, the mandatory deadline, format
   preference, popularity in the role, co-occurrence and EASE scores, the candidate's
   sources;
3. a LightGBM LambdaRank booster scores them (trained on earlier months: features as of the
   first day of a month, label 1 if the member launched the item within ``horizon_days``);
4. re-ranking: members flagged "check-in without absorption" get practice (quiz, case) and
   short items pushed up and long videos and live lectures pushed down; with
   ``learning_weight`` > 0 the item's learning value (``learning_value``: the mastery gap on
   its KPs, weighted up for practice formats and for the minutes that fit) is added, in
   standard deviations of the member's scores; then at most ``max_per_kp`` items per
   knowledge point, so that ten suggestions are not one KP; when the caller gives
   ``minutes``, only items that fit are suggested.

Mastery: ``fit`` takes a fitted ``models.learning.mastery.MasteryModel`` or, by default,
fits one on the events before the end of the training period (the last cut + horizon: never
anything the evaluation month holds); it is kept as ``mastery_`` and every snapshot the
recommender builds (``fit``, ``training_frame``, ``recommend``, the simulation's policy)
reads P(correct) from it and the check-in flag from ``detect_check_in`` with it. Without
answered statements there is no model, and ``Snapshot.build``'s cold-start stand-in is used.

Persistence: ``save`` writes ``study_recommender.json`` (parameters, feature names, metadata),
``booster.txt`` (LightGBM's model text) and the mastery model under ``mastery/``
(``MasteryModel.save``), so that serving needs one artefact; ``load`` reads them back. The
model holds no member data (the mastery model keeps item and KP difficulty only):
``recommend`` reads the current statements, content and members from the ``context`` it is
given (a ``LearningData`` or a ``Snapshot``), or from ``attach``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel
from numpy.typing import NDArray

from features.learning.candidates import (
    NEW_CONTENT_DAYS,
    PRACTICE_FORMATS,
    SOURCES,
    candidate_sources,
)
from features.learning.data import FORMATS, MEMBER_KEY, LearningData
from features.learning.kt_features import CORRECT, KIND, RESPONSE, TIMESTAMP, difficulty_logit
from features.learning.snapshot import Snapshot, month_end
from models.learning.mastery import MasteryModel, MasteryModelError, seeded_order
from models.learning.rows import row_files
from store.database import StoreReader
from store.queries import learning as queries

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
OnScored = Callable[[pd.DataFrame, FloatArray], None]
"""Called with a candidate frame's ``FEATURES`` (``[n, len(FEATURES)]``) and the ranker's raw
scores (``[n]``, before re-ranking), e.g. to record them for drift monitoring."""

FORMAT_VERSION = 1
MODEL_FILE = "study_recommender.json"
BOOSTER_FILE = "booster.txt"
ARTIFACT_KEY = "study_recommender"
MASTERY_DIR = "mastery"

SHORT_MINUTES = 10.0
CHECK_IN_MARGIN = 1.0  # standard deviations of the member's candidate scores
WEAK_KP_THRESHOLD = 0.6  # estimated P(correct) under which a KP is called weak in reasons

FEATURES: tuple[str, ...] = (
    "mastery_gap",
    "min_p_correct",
    "kp_attempts",
    "days_since_practised",
    "difficulty",
    "difficulty_vs_ability",
    "engagement",
    "role_popularity",
    "recent_popularity",
    "novelty",
    "cooccurrence",
    "ease",
    "format_preference",
    "format_code",
    "minutes",
    "minutes_over_window",
    "fits_window",
    "days_since_published",
    "is_new",
    "mandatory_now",
    "days_to_deadline",
    "theme_overlap",
    "kp_interest",
    "n_kps",
    "member_launches",
    "tenure_days",
    "shift_worker",
    "check_in",
    *(f"source_{name}" for name in SOURCES),
)


TRAINING_MEMBER_BUDGET = 4_000
"""Most members per training cut whose candidates the ranker trains on
(``training_members``), so that a cut's mastery profiles and the booster's rows cost the same
at any number of members; the demo world's 2,000 members train whole."""


def training_members(keys: Sequence[str], budget: int | None, *, seed: int = 0) -> list[str] | None:
    """The members whose candidates the ranker trains on at a cut, out of every roster
    member ``keys``: None (all) when there are at most ``budget``, else the first ``budget``
    in a seeded hash order of their keys (``models.learning.mastery.seeded_order``: a uniform
    sample drawn without looking at any statement, the same members at every cut), sorted."""
    if budget is None or len(keys) <= budget:
        return None
    values = np.array([str(key) for key in keys], dtype=object)
    return sorted(values[seeded_order(values, seed)[:budget]].tolist())


class NotFittedError(RuntimeError):
    """``recommend`` before ``fit`` or ``load``."""


@dataclass(frozen=True)
class Suggestion:
    content_id: str
    score: float
    reasons: list[dict[str, Any]] = field(default_factory=list)
    title: str | None = None
    minutes: float | None = None
    format: str | None = None
    knowledge_points: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "content_id": self.content_id,
            "title": self.title,
            "score": self.score,
            "minutes": self.minutes,
            "format": self.format,
            "knowledge_points": list(self.knowledge_points),
            "reasons": [dict(reason) for reason in self.reasons],
        }


PARTITION_MEMBERS = 256
"""Members per partition of the candidate frames (``member_partitions``): a partition's
frame and its ``(rows, n_kps)`` temporaries are built and dropped before the next one."""


@dataclass
class CandidateFrame:
    """Candidate rows of a snapshot: member row ``m``, item column ``i``, features ``X``."""

    m: IntArray
    i: IntArray
    features: pd.DataFrame
    window: FloatArray  # (n_members,) minutes available per member row of the snapshot


def member_partitions(
    snapshot: Snapshot,
    rows: Sequence[int] | NDArray[np.integer] | None = None,
    size: int | None = None,
) -> list[IntArray]:
    """``rows`` (member indices, default all, in that order) cut into runs of ``size``
    (default ``PARTITION_MEMBERS``).

    Every feature and candidate source of a member is computed from that member's row alone
    (element-wise, per-row reductions, sparse products that add in item or KP order), so the
    frames of the partitions, concatenated, are the frame of all the rows, bit for bit
    (tested): partitioning bounds memory and changes no number."""
    index = np.arange(len(snapshot.member_keys)) if rows is None else np.asarray(rows, np.intp)
    step = max(PARTITION_MEMBERS if size is None else size, 1)
    return [index[start : start + step] for start in range(0, len(index), step)] or [index]


def candidate_frame(
    snapshot: Snapshot,
    *,
    rows: Sequence[int] | NDArray[np.integer] | None = None,
    per_source: int = 30,
    minutes: float | None = None,
) -> CandidateFrame:
    """The candidates of ``rows`` (member indices; default all) with ``FEATURES``."""
    index = np.arange(len(snapshot.member_keys)) if rows is None else np.asarray(rows, np.intp)
    sources = candidate_sources(snapshot, per_source=per_source, rows=index.tolist())
    union = np.zeros_like(next(iter(sources.values())))
    for chosen in sources.values():
        union |= chosen
    local_row, i = np.nonzero(union)
    m = index[local_row]
    window = np.full(len(snapshot.member_keys), np.nan)
    window[index] = minutes if minutes is not None else snapshot.window_minutes(rows=index)

    item_kp = snapshot.item_kp
    n_item_kps = np.maximum(item_kp.sum(axis=1), 1.0)
    kp_rows = item_kp[i] > 0  # (n_rows, n_kps)
    p = snapshot.p_correct[m]
    gap = ((1.0 - p) * kp_rows).sum(axis=1) / n_item_kps[i]
    min_p = np.where(kp_rows, p, np.inf).min(axis=1)
    attempts = (snapshot.attempts[m] * kp_rows).sum(axis=1) / n_item_kps[i]
    since = np.where(kp_rows, snapshot.days_since_practised[m], np.inf).min(axis=1)
    mean_p = np.clip(1.0 - gap, 0.02, 0.98)
    content = snapshot.content
    difficulty = content["difficulty"].to_numpy(dtype=float)[i]
    item_minutes = content["minutes"].to_numpy(dtype=float)[i]
    fmt = content["format"].astype(str).to_numpy()[i]
    format_code = np.array([FORMATS.index(f) if f in FORMATS else -1 for f in fmt], dtype=np.intp)
    format_pref = snapshot.format_share[m, np.maximum(format_code, 0)]
    published = pd.to_datetime(content["published_on"])
    age = ((pd.Timestamp(snapshot.as_of) - published) / pd.Timedelta(days=1)).to_numpy(float)[i]
    mandatory = snapshot.mandatory_now[i]
    days_left = (month_end(snapshot.as_of) - snapshot.as_of).total_seconds() / 86400
    members = snapshot.members
    joined = pd.to_datetime(members["joined_on"])
    tenure = ((pd.Timestamp(snapshot.as_of) - joined) / pd.Timedelta(days=1)).to_numpy(float)[m]
    n_users = max(len(snapshot.member_keys), 1)
    member_window = window[m]
    columns: dict[str, Any] = {
        "mastery_gap": gap,
        "min_p_correct": min_p,
        "kp_attempts": np.log1p(attempts),
        "days_since_practised": np.minimum(since, 400.0),
        "difficulty": difficulty,
        "difficulty_vs_ability": difficulty_logit(difficulty) - np.log(mean_p / (1 - mean_p)),
        "engagement": snapshot.engagement_rows(index)[local_row, i],
        "role_popularity": snapshot.role_popularity_rows(index)[local_row, i],
        "recent_popularity": snapshot.recent_popularity[i],
        "novelty": -np.log2(np.maximum(snapshot.item_users[i], 1.0) / n_users),
        "cooccurrence": snapshot.cooccurrence_rows(index)[local_row, i],
        "ease": snapshot.ease_rows(index)[local_row, i],
        "format_preference": format_pref,
        "format_code": format_code.astype(float),
        "minutes": item_minutes,
        "minutes_over_window": item_minutes / np.maximum(member_window, 1.0),
        "fits_window": (item_minutes <= member_window).astype(float),
        "days_since_published": np.minimum(age, 1000.0),
        "is_new": (age <= NEW_CONTENT_DAYS).astype(float),
        "mandatory_now": mandatory.astype(float),
        "days_to_deadline": np.where(mandatory, days_left, 60.0),
        "theme_overlap": snapshot.theme_overlap[i],
        "kp_interest": (snapshot.kp_interest[m] * kp_rows).sum(axis=1),
        "n_kps": n_item_kps[i],
        "member_launches": np.log1p(snapshot.n_launches[m]),
        "tenure_days": np.minimum(tenure, 3650.0),
        "shift_worker": (members["shift_pattern"].astype(str).to_numpy()[m] != "day").astype(float),
        "check_in": snapshot.check_in[m].astype(float),
    }
    for name, chosen in sources.items():
        columns[f"source_{name}"] = chosen[local_row, i].astype(float)
    features = pd.DataFrame(columns)[list(FEATURES)]
    return CandidateFrame(m=m, i=i, features=features, window=window)


def _slim(frame: CandidateFrame) -> CandidateFrame:
    """``frame`` without its features (what re-ranking needs: rows, items, windows)."""
    return CandidateFrame(
        m=frame.m, i=frame.i, features=frame.features.iloc[:0], window=frame.window
    )


PRACTICE_WEIGHT = 1.5  # retrieval practice (quiz, case) against reading or watching


def learning_value(snapshot: Snapshot, frame: CandidateFrame) -> FloatArray:
    """What studying the item should teach the member, for the ``learning_weight`` term:
    the mastery gap on the item's KPs × ``PRACTICE_WEIGHT`` for practice formats ×
    ``log1p(minutes / 10)`` of the minutes that fit the member's window (more time teaches
    more, with diminishing returns). A prior from the learning-science commonplaces, not
    fitted to anything."""
    fmt = snapshot.content["format"].astype(str).to_numpy()[frame.i]
    minutes = snapshot.content["minutes"].to_numpy(dtype=float)[frame.i]
    window = frame.window[frame.m]
    spent = np.where(np.isfinite(window), np.minimum(minutes, window), minutes)
    active = np.where(np.isin(fmt, PRACTICE_FORMATS), PRACTICE_WEIGHT, 1.0)
    gap = frame.features["mastery_gap"].to_numpy(dtype=float)
    return np.asarray(gap * active * np.log1p(spent / 10.0), dtype=float)


def future_launches(data: LearningData, snapshot: Snapshot, *, horizon_days: int) -> IntArray:
    """Sorted codes ``member row × n_items + item column`` of the (member, item) pairs
    launched in ``[as_of, as_of + horizon_days)`` (members and items the snapshot knows)."""
    start = pd.Timestamp(snapshot.as_of)
    end = start + pd.Timedelta(days=horizon_days)
    statements = data.statements
    future = statements[
        (statements["verb"] == "launched")
        & (statements["timestamp"] >= start)
        & (statements["timestamp"] < end)
    ]
    member = future[MEMBER_KEY].astype(str).map(snapshot.member_index)
    item = future["content_id"].astype(str).map({key: j for j, key in enumerate(snapshot.items)})
    known = (member.notna() & item.notna()).to_numpy()
    codes = member.to_numpy()[known].astype(np.int64) * len(snapshot.items) + item.to_numpy()[
        known
    ].astype(np.int64)
    return np.unique(codes).astype(np.intp)


def launch_labels(
    data: LearningData,
    snapshot: Snapshot,
    frame: CandidateFrame,
    *,
    horizon_days: int,
    launches: IntArray | None = None,
) -> FloatArray:
    """1 where the member launched the item in ``[as_of, as_of + horizon_days)``, else 0;
    ``launches``: ``future_launches``' codes if already computed (one pass over the
    statements per cut, not per partition)."""
    codes = (
        future_launches(data, snapshot, horizon_days=horizon_days) if launches is None else launches
    )
    pairs = frame.m.astype(np.int64) * len(snapshot.items) + frame.i.astype(np.int64)
    return np.isin(pairs, codes).astype(float)


class StudyRecommender:
    """See the module docstring. Build with ``fit`` or ``load``."""

    def __init__(
        self,
        *,
        per_source: int = 30,
        n_estimators: int = 300,
        num_leaves: int = 31,
        learning_rate: float = 0.05,
        min_data_in_leaf: int = 50,
        max_per_kp: int = 3,
        learning_weight: float = 0.0,
        horizon_days: int = 30,
        seed: int = 0,
        num_threads: int = 1,
        max_training_members: int | None = TRAINING_MEMBER_BUDGET,
    ) -> None:
        self.per_source = per_source
        self.n_estimators = n_estimators
        self.num_leaves = num_leaves
        self.learning_rate = learning_rate
        self.min_data_in_leaf = min_data_in_leaf
        self.max_per_kp = max_per_kp
        self.learning_weight = learning_weight
        self.horizon_days = horizon_days
        self.seed = seed
        self.num_threads = num_threads
        self.max_training_members = max_training_members
        self.booster_: lgb.Booster | None = None
        self.mastery_: MasteryModel | None = None
        self.metadata_: dict[str, Any] = {}
        self.data_: LearningData | None = None
        self.kp_names_: dict[str, tuple[str, str]] = {}
        self._snapshot_cache: tuple[tuple[int, datetime], Snapshot] | None = None

    def get_params(self) -> dict[str, Any]:
        return {
            "per_source": self.per_source,
            "n_estimators": self.n_estimators,
            "num_leaves": self.num_leaves,
            "learning_rate": self.learning_rate,
            "min_data_in_leaf": self.min_data_in_leaf,
            "max_per_kp": self.max_per_kp,
            "learning_weight": self.learning_weight,
            "horizon_days": self.horizon_days,
            "seed": self.seed,
            "num_threads": self.num_threads,
            "max_training_members": self.max_training_members,
        }

    # ---- fitting ----------------------------------------------------------------------------

    def lightgbm_params(self) -> dict[str, Any]:
        return {
            "objective": "lambdarank",
            "metric": "ndcg",
            "eval_at": [10],
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": 0.9,
            "lambda_l2": 1.0,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.num_threads,
            "verbose": -1,
        }

    def fit_mastery(self, data: LearningData, before: datetime) -> MasteryModel | None:
        """A ``MasteryModel`` fitted on the events strictly before ``before``; ``None`` when
        they hold no right and wrong answers to learn from (cold start)."""
        events = data.events()
        past = events[events[TIMESTAMP] < pd.Timestamp(before)]
        answers = past.loc[past[KIND] == RESPONSE, CORRECT]
        if answers.nunique() < 2:
            return None
        try:
            model = MasteryModel(seed=self.seed).fit(past)
        except MasteryModelError:
            return None
        model.metadata_["trained_before"] = pd.Timestamp(before).isoformat()
        return model

    def snapshot_at(
        self,
        data: LearningData,
        as_of: datetime,
        *,
        check_in: pd.DataFrame | None = None,
        profiled: Sequence[str] | None = None,
    ) -> Snapshot:
        """``Snapshot.build`` with this recommender's mastery model (no cache); ``profiled``:
        the members whose mastery and check-in flag it computes (default all: see
        ``Snapshot.build``)."""
        return Snapshot.build(
            data, as_of, mastery=self.mastery_, check_in=check_in, profiled=profiled
        )

    def training_frame(
        self,
        data: LearningData,
        cuts: Sequence[datetime],
        *,
        mastery: Any | None = None,
        check_in: pd.DataFrame | None = None,
    ) -> tuple[pd.DataFrame, FloatArray, list[int]]:
        """Features, labels and group sizes over all cuts (``training_chunks`` joined);
        members with no launch in a cut's horizon are dropped (they carry no ranking signal).
        ``mastery`` defaults to ``mastery_``."""
        chunks = list(self.training_chunks(data, cuts, mastery=mastery, check_in=check_in))
        if not chunks:
            raise ValueError("no member launched a candidate item in any training horizon")
        features = pd.DataFrame(np.concatenate([c[0] for c in chunks]), columns=list(FEATURES))
        groups = [size for chunk in chunks for size in chunk[2]]
        return features, np.concatenate([c[1] for c in chunks]), groups

    def training_chunks(
        self,
        data: LearningData,
        cuts: Sequence[datetime],
        *,
        mastery: Any | None = None,
        check_in: pd.DataFrame | None = None,
    ) -> Iterator[tuple[FloatArray, FloatArray, list[int]]]:
        """Per cut and member partition (``member_partitions``), in order: the features
        (``(rows, len(FEATURES))`` float64), labels and group sizes of the members with a
        launch in the cut's horizon, among ``training_members`` (at most
        ``max_training_members``; their rows are those of a build of everyone). One cut's
        snapshot and one partition's frame are held at a time; the chunks, joined, are the
        whole build's rows in the same order."""
        estimator = mastery if mastery is not None else self.mastery_
        sample = training_members(
            data.members[MEMBER_KEY].astype(str).tolist(), self.max_training_members, seed=self.seed
        )
        for cut in cuts:
            snapshot = Snapshot.build(
                data, cut, mastery=estimator, check_in=check_in, profiled=sample
            )
            launches = future_launches(data, snapshot, horizon_days=self.horizon_days)
            rows = (
                None
                if sample is None
                else np.sort([snapshot.member_index[key] for key in sample]).astype(np.intp)
            )
            for part in member_partitions(snapshot, rows):
                chunk = self.partition_rows(data, snapshot, part, launches=launches)
                if chunk is not None:
                    yield chunk
            del snapshot

    def partition_rows(
        self,
        data: LearningData,
        snapshot: Snapshot,
        rows: Sequence[int] | NDArray[np.integer],
        *,
        launches: IntArray | None = None,
    ) -> tuple[FloatArray, FloatArray, list[int]] | None:
        """One member partition's training rows at ``snapshot``'s cut: the features
        (``(rows, len(FEATURES))`` float64), labels (launched within ``horizon_days``) and
        group sizes of the members of ``rows`` (member indices of the snapshot, ascending)
        with a launch in the horizon; None when none has. Depends on those members' rows of
        the snapshot alone (profile them: ``Snapshot.build(..., profiled=keys)``), so a
        worker can build its partitions' rows and the chunks, joined in partition order, are
        those of ``training_chunks``. ``launches``: ``future_launches`` at the cut."""
        frame = candidate_frame(snapshot, rows=rows, per_source=self.per_source)
        label = launch_labels(
            data, snapshot, frame, horizon_days=self.horizon_days, launches=launches
        )
        positives = np.bincount(frame.m, weights=label, minlength=len(snapshot.member_keys))
        keep = positives[frame.m] > 0
        if not keep.any():
            return None
        sizes = np.bincount(frame.m[keep])
        return (
            frame.features.to_numpy(dtype=float)[keep],
            label[keep],
            [int(s) for s in sizes if s > 0],
        )

    def fit(
        self,
        data: LearningData,
        cuts: Sequence[datetime],
        *,
        mastery: Any | None = None,
        check_in: pd.DataFrame | None = None,
    ) -> StudyRecommender:
        """Train the ranker on the given cuts (features as of each cut, labels from the
        ``horizon_days`` after it: keep every cut + horizon before the evaluation's cut).

        ``mastery``: a fitted ``MasteryModel`` to use (it must not have seen anything after
        the training period); by default one is fitted on the events before the last cut +
        ``horizon_days``. It is kept as ``mastery_`` and saved with the ranker."""
        if not cuts:
            raise ValueError("no training cut")
        training_end = max(pd.Timestamp(c) for c in cuts) + pd.Timedelta(days=self.horizon_days)
        if mastery is not None:
            self.mastery_ = mastery
            mastery_source = "given"
        else:
            self.mastery_ = self.fit_mastery(data, training_end.to_pydatetime())
            mastery_source = "fitted" if self.mastery_ is not None else "stand-in (no answers)"
        # the rows go to disk a partition at a time; LightGBM keeps them binned only
        with row_files("ranker") as files:
            for rows, label, sizes in self.training_chunks(data, cuts, check_in=check_in):
                files.add(rows, label, sizes)
            if not files.parts:
                raise ValueError("no member launched a candidate item in any training horizon")
            labels, groups = files.label(), files.groups
            self.booster_ = lgb.train(
                self.lightgbm_params(),
                files.dataset(list(FEATURES)),
                num_boost_round=self.n_estimators,
            )
        self.metadata_ = {
            "cuts": [pd.Timestamp(c).isoformat() for c in cuts],
            "training_rows": len(labels),
            "training_groups": len(groups),
            "positive_rate": float(labels.mean()),
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "training_end": training_end.isoformat(),
            "mastery": mastery_source,
        }
        return self

    # ---- scoring ----------------------------------------------------------------------------

    def _booster(self) -> lgb.Booster:
        if self.booster_ is None:
            raise NotFittedError("StudyRecommender is not fitted: fit or load it first")
        return self.booster_

    def score_frame(self, frame: CandidateFrame) -> FloatArray:
        return np.asarray(
            self._booster().predict(frame.features.to_numpy(dtype=float), num_threads=1),
            dtype=float,
        )

    def adjusted_scores(
        self,
        snapshot: Snapshot,
        frame: CandidateFrame,
        raw: FloatArray | None = None,
        *,
        value: FloatArray | None = None,
        value_scale: float | None = None,
    ) -> FloatArray:
        """Ranker scores after the check-in and learning-gap adjustments (per member, in
        standard deviations of that member's scores); ``raw``: ``score_frame(frame)`` if
        already computed. The learning value is divided by its standard deviation over the
        candidates ranked together: ``value_scale`` when they span several frames (else this
        frame's); ``value``: ``learning_value(snapshot, frame)`` if already computed."""
        raw = self.score_frame(frame) if raw is None else raw
        spread = pd.Series(raw).groupby(frame.m).transform("std").fillna(1.0).to_numpy()
        spread = np.where(spread > 0, spread, 1.0)
        adjusted = raw.copy()
        if self.learning_weight:
            value = learning_value(snapshot, frame) if value is None else value
            scale = max(float(value.std()), 1e-9) if value_scale is None else value_scale
            adjusted += self.learning_weight * spread * value / scale
        fmt = snapshot.content["format"].astype(str).to_numpy()[frame.i]
        minutes = snapshot.content["minutes"].to_numpy(dtype=float)[frame.i]
        flagged = snapshot.check_in[frame.m]
        practice = np.isin(fmt, PRACTICE_FORMATS) | (minutes <= SHORT_MINUTES)
        long_passive = np.isin(fmt, ("video", "live")) & (minutes > SHORT_MINUTES)
        adjusted += np.where(flagged & practice, CHECK_IN_MARGIN * spread, 0.0)
        adjusted -= np.where(flagged & long_passive, CHECK_IN_MARGIN * spread, 0.0)
        return adjusted

    def rank_snapshot(
        self,
        snapshot: Snapshot,
        *,
        rows: Sequence[int] | NDArray[np.integer] | None = None,
        k: int = 10,
        minutes: float | None = None,
        on_scored: OnScored | None = None,
    ) -> dict[int, list[tuple[int, float]]]:
        """``{member row: [(item column, score), ...]}``: top k after re-ranking. With
        ``minutes``, only items of at most that many minutes.

        The members are ranked a partition at a time (``member_partitions``), in two passes:
        the first scores each partition's candidates and keeps their rows, items, raw scores
        and learning values only (the learning value's standard deviation is taken over all
        of them, as over one frame of every member); the second re-ranks and picks per
        partition. ``on_scored`` sees each partition's frame."""
        partitions = member_partitions(snapshot, rows)
        scored: list[tuple[CandidateFrame, FloatArray, FloatArray | None]] = []
        for part in partitions:
            frame = candidate_frame(
                snapshot, rows=part, per_source=self.per_source, minutes=minutes
            )
            raw = self.score_frame(frame)
            if on_scored is not None:
                on_scored(frame.features, raw)
            value = learning_value(snapshot, frame) if self.learning_weight else None
            scored.append((_slim(frame), raw, value))
        values = [value for _, _, value in scored if value is not None]
        scale = max(float(np.concatenate(values).std()), 1e-9) if values else None
        item_kps = [np.flatnonzero(row) for row in snapshot.item_kp]
        out: dict[int, list[tuple[int, float]]] = {
            int(r): [] for r in (rows if rows is not None else range(len(snapshot.member_keys)))
        }
        for frame, raw, value in scored:
            scores = self.adjusted_scores(snapshot, frame, raw, value=value, value_scale=scale)
            self._pick(snapshot, frame, scores, item_kps, out, k=k, minutes=minutes)
        return out

    def _pick(
        self,
        snapshot: Snapshot,
        frame: CandidateFrame,
        scores: FloatArray,
        item_kps: list[IntArray],
        out: dict[int, list[tuple[int, float]]],
        *,
        k: int,
        minutes: float | None,
    ) -> None:
        """The top ``k`` of each member of ``frame`` into ``out``: by score (ties: lower item
        column), at most ``max_per_kp`` per KP, items of at most ``minutes`` if given."""
        if minutes is not None:
            fits = snapshot.content["minutes"].to_numpy(dtype=float)[frame.i] <= minutes
            frame_m, frame_i, scores = frame.m[fits], frame.i[fits], scores[fits]
        else:
            frame_m, frame_i = frame.m, frame.i
        order = np.lexsort((frame_i, -scores, frame_m))
        used: dict[int, np.ndarray] = {}
        for position in order:
            member = int(frame_m[position])
            chosen = out.setdefault(member, [])
            if len(chosen) >= k:
                continue
            counts = used.setdefault(member, np.zeros(len(snapshot.kps), dtype=int))
            kps = item_kps[int(frame_i[position])]
            if kps.size and (counts[kps] >= self.max_per_kp).any():
                continue
            counts[kps] += 1
            chosen.append((int(frame_i[position]), float(scores[position])))

    def recommend_snapshot(
        self,
        snapshot: Snapshot,
        member_keys: Sequence[str] | None = None,
        *,
        k: int = 10,
        minutes: float | None = None,
        with_reasons: bool = True,
        on_scored: OnScored | None = None,
    ) -> dict[str, list[Suggestion]]:
        index = snapshot.member_index
        keys = list(member_keys) if member_keys is not None else snapshot.member_keys
        rows = [index[key] for key in keys if key in index]
        ranked = self.rank_snapshot(snapshot, rows=rows, k=k, minutes=minutes, on_scored=on_scored)
        window = (
            np.full(len(snapshot.member_keys), float(minutes))
            if minutes is not None
            else snapshot.window_minutes()
            if with_reasons
            else None
        )
        out: dict[str, list[Suggestion]] = {key: [] for key in keys}
        for row, chosen in ranked.items():
            key = snapshot.member_keys[row]
            out[key] = [
                self._suggestion(snapshot, row, item, score, window, with_reasons)
                for item, score in chosen
            ]
        return out

    def _suggestion(
        self,
        snapshot: Snapshot,
        row: int,
        item: int,
        score: float,
        window: FloatArray | None,
        with_reasons: bool,
    ) -> Suggestion:
        content = snapshot.content.iloc[item]
        kps = list(content["knowledge_points"])
        reasons = (
            self._reasons(snapshot, row, item, window[row] if window is not None else math.nan)
            if with_reasons
            else []
        )
        return Suggestion(
            content_id=snapshot.items[item],
            score=round(score, 6),
            reasons=reasons,
            title=str(content.get("title")) if content.get("title") is not None else None,
            minutes=float(content["minutes"]),
            format=str(content["format"]),
            knowledge_points=kps,
        )

    def _kp_name(self, kp: str) -> tuple[str, str]:
        return self.kp_names_.get(kp, (kp, kp))

    def _reasons(
        self, snapshot: Snapshot, row: int, item: int, window: float
    ) -> list[dict[str, Any]]:
        content = snapshot.content.iloc[item]
        reasons: list[dict[str, Any]] = []
        kp_columns = np.flatnonzero(snapshot.item_kp[item])
        if kp_columns.size:
            p = snapshot.p_correct[row, kp_columns]
            weakest = int(kp_columns[int(np.argmin(p))])
            p_weak = float(snapshot.p_correct[row, weakest])
            if p_weak < WEAK_KP_THRESHOLD:
                kp = snapshot.kps[weakest]
                name_en, name_zh = self._kp_name(kp)
                reasons.append(
                    {
                        "kind": "weak_kp",
                        "kp_id": kp,
                        "text_en": f"Trains {name_en}, where your estimated accuracy is "
                        f"{p_weak:.0%}",
                        "text_zh": f"练习薄弱知识点「{name_zh}」：当前估计正确率 {p_weak:.0%}",
                    }
                )
        minutes = float(content["minutes"])
        if math.isfinite(window) and minutes <= window:
            reasons.append(
                {
                    "kind": "time_fit",
                    "kp_id": None,
                    "text_en": f"Takes about {minutes:.0f} min: fits your next free "
                    f"{window:.0f} min",
                    "text_zh": f"约需 {minutes:.0f} 分钟，适合您接下来 {window:.0f} 分钟的空闲时间",
                }
            )
        if snapshot.mandatory_now[item]:
            days = max(0, (month_end(snapshot.as_of) - snapshot.as_of).days)
            reasons.append(
                {
                    "kind": "mandatory",
                    "kp_id": None,
                    "text_en": f"Mandatory study this month; {days} days left",
                    "text_zh": f"本月必学内容，距截止还有 {days} 天",
                }
            )
        published = pd.Timestamp(content["published_on"])
        if pd.Timestamp(snapshot.as_of) - published <= pd.Timedelta(days=NEW_CONTENT_DAYS):
            reasons.append(
                {
                    "kind": "new_content",
                    "kp_id": None,
                    "text_en": f"New content, published {published.date().isoformat()}",
                    "text_zh": f"新上线内容（{published.date().isoformat()} 发布）",
                }
            )
        if snapshot.check_in[row] and (
            str(content["format"]) in PRACTICE_FORMATS or minutes <= SHORT_MINUTES
        ):
            reasons.append(
                {
                    "kind": "checkin_practice",
                    "kp_id": None,
                    "text_en": "Short practice to turn study time into mastery",
                    "text_zh": "短时练习，以练促学，把学习时长转化为真正掌握",
                }
            )
        return reasons

    # ---- the service's entry point ---------------------------------------------------------

    def attach(
        self, data: LearningData, *, kp_names: Mapping[str, tuple[str, str]] | None = None
    ) -> StudyRecommender:
        """Use ``data`` when ``recommend`` is called without a context; ``kp_names`` maps a
        kp_id to ``(name_en, name_zh)`` for the reasons."""
        self.data_ = data
        if kp_names is not None:
            self.kp_names_ = dict(kp_names)
        self._snapshot_cache = None
        return self

    def snapshot(self, data: LearningData, as_of: datetime) -> Snapshot:
        """``Snapshot.build`` with a one-entry cache (same data object and moment)."""
        key = (id(data), pd.Timestamp(as_of).to_pydatetime())
        if self._snapshot_cache is not None and self._snapshot_cache[0] == key:
            return self._snapshot_cache[1]
        built = self.snapshot_at(data, as_of)
        self._snapshot_cache = (key, built)
        return built

    def recommend(
        self,
        member_key: str,
        k: int = 10,
        minutes: float | None = None,
        as_of: datetime | None = None,
        context: LearningData | Snapshot | None = None,
        on_scored: OnScored | None = None,
    ) -> list[Suggestion]:
        """Up to ``k`` suggestions for one member (an unknown member gets none; a member
        without history gets the cold-start sources). ``as_of`` defaults to now (UTC);
        ``on_scored`` sees the member's candidates and raw scores (``OnScored``)."""
        if isinstance(context, Snapshot):
            snapshot = context
        else:
            data = context or self.data_
            if data is None:
                raise NotFittedError("no context: pass one or call attach(data) first")
            moment = as_of or datetime.now(UTC).replace(tzinfo=None)
            snapshot = self.snapshot(data, moment.replace(minute=0, second=0, microsecond=0))
        chosen = self.recommend_snapshot(
            snapshot, [member_key], k=k, minutes=minutes, on_scored=on_scored
        )
        return chosen[member_key]

    # ---- persistence ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "params": self.get_params(),
            "feature_names": list(FEATURES),
            "metadata": self.metadata_,
            "kp_names": {kp: list(names) for kp, names in self.kp_names_.items()},
            "booster": self._booster().model_to_string(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StudyRecommender:
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported recommender format {data.get('format_version')!r}")
        if list(data["feature_names"]) != list(FEATURES):
            raise ValueError("the saved model's features differ from this code's FEATURES")
        model = cls(**data["params"])
        model.booster_ = lgb.Booster(model_str=data["booster"])
        model.metadata_ = dict(data.get("metadata") or {})
        model.kp_names_ = {kp: (v[0], v[1]) for kp, v in (data.get("kp_names") or {}).items()}
        return model

    def save(self, directory: Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        document = self.to_dict()
        (directory / BOOSTER_FILE).write_text(document.pop("booster"), encoding="utf-8")
        if self.mastery_ is not None:
            self.mastery_.save(directory / MASTERY_DIR)
            document["mastery"] = MASTERY_DIR
        (directory / MODEL_FILE).write_text(
            json.dumps(document, ensure_ascii=False, allow_nan=False), encoding="utf-8"
        )
        return directory

    @classmethod
    def load(cls, directory: Path) -> StudyRecommender:
        directory = Path(directory)
        document = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
        document["booster"] = (directory / BOOSTER_FILE).read_text(encoding="utf-8")
        model = cls.from_dict(document)
        if document.get("mastery"):
            model.mastery_ = MasteryModel.load(directory / str(document["mastery"]))
        return model


def kp_names_from_store(store: StoreReader) -> dict[str, tuple[str, str]]:
    """Knowledge point id → (English name, Chinese name)."""
    frame = queries.knowledge_points(store)
    return {str(row.kp_id): (str(row.name_en), str(row.name_zh)) for row in frame.itertuples()}


def default_cuts(end: datetime, *, months: int = 3, horizon_days: int = 30) -> list[datetime]:
    """First days of the ``months`` months before ``end``'s month whose horizon ends by
    ``end`` (training cuts that never see the evaluation month)."""
    first = pd.Timestamp(end).to_period("M")
    cuts = [(first - back).to_timestamp().to_pydatetime() for back in range(months, 0, -1)]
    return [c for c in cuts if c + timedelta(days=horizon_days) <= pd.Timestamp(end)]


class StudyRecommenderPyfunc(PythonModel):
    """MLflow face: ``predict`` takes rows of ``member_key`` (and optional ``k``, ``minutes``,
    ``as_of``) and answers one row per suggestion; it needs data attached
    (``loaded.unwrap_python_model().recommender.attach(LearningData.from_store(store))``)."""

    def __init__(self) -> None:
        self.recommender: StudyRecommender | None = None

    def load_context(self, context: Any) -> None:
        self.recommender = StudyRecommender.load(Path(context.artifacts[ARTIFACT_KEY]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        # A DataFrame hint is one MLflow infers no schema from (the logged signature stays
        # the one given at log time), and it silences MLflow's "add type hints" warning.
        if self.recommender is None:
            raise RuntimeError("StudyRecommenderPyfunc.predict before load_context")
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        rows: list[dict[str, Any]] = []
        for record in frame.to_dict("records"):
            as_of = record.get("as_of")
            suggestions = self.recommender.recommend(
                str(record[MEMBER_KEY]),
                k=int(record.get("k") or 10),
                minutes=None if pd.isna(record.get("minutes")) else float(record["minutes"]),
                as_of=None if as_of is None or pd.isna(as_of) else pd.Timestamp(as_of),
            )
            rows.extend(
                {MEMBER_KEY: record[MEMBER_KEY], "rank": rank, **s.as_dict()}
                for rank, s in enumerate(suggestions, 1)
            )
        return pd.DataFrame(rows)
