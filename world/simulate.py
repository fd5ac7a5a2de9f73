"""Learning gain: what members would learn over a few weeks by following a policy's suggestions.

The simulator is the demo world's own latent model (``world.learner_model``): the
state is copied from the truth folder (evaluation only, never a feature): each member's
mastery at the end of the month before ``start`` (``truth/mastery_monthly.csv``, a
probability, turned back into logits), their absorption and check-in flag
(``truth/members.csv``) and the rates (``truth/learning_rates.json``). The truth does not
keep the floor (the never-forgotten part of mastery), so the copy takes today's mastery as
the floor: forgetting then acts only on what is learnt during the simulation, the same way
for every policy.

Each simulated week, for every member: the policy suggests items (its top ``per_week``,
seen as of that week, items already studied excluded); the member studies each in a free
window of their roster (``features.rosters.next_free_window`` two days apart: the time
studied is the item's minutes, cut to the window); the latent model applies the gains
(``LatentLearners.study``), then seven days of forgetting. The sessions are written back to
the policy's own history as xAPI-like statements (launched, completed, and for quizzes and
cases answers drawn from the latent model, as the generator does, and the time studied as an
``experienced`` statement), so next week's suggestions see them: the recommender's mastery
model traces the new answers and study time, popularity counts the launches. A policy with a
``snapshot(data, as_of)`` method builds its own snapshots (the recommender's: with its
``MasteryModel`` and ``detect_check_in``); others get ``Snapshot.build``'s cold-start
stand-in (popularity reads no mastery).

Gain per member = mean over KPs of the mastery probability at the end minus at the start.
Policies are compared on the same members (paired): mean difference, its standard error and
the share of members who gained more.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.learning.data import CONTENT_ID, LOCAL_OFFSET, MEMBER_KEY, LearningData
from features.learning.snapshot import Snapshot
from features.rosters import RosterError, next_free_window
from world.learner_model import LatentLearners, LearningRates, sigmoid

Policy = Callable[[Snapshot, int], dict[str, list[str]]]
"""``policy(snapshot, n) -> {member_key: [content_id, ...]}`` (best first, at most n)."""

MAX_KPS = 3
CONTENT_IRI = "https://study.lodestar.invalid/content/"  # the demo platform's activity ids


@dataclass
class LatentCopy:
    """Latent learners with the member keys of their rows and the kp ids of their columns."""

    learners: LatentLearners
    member_keys: list[str]
    kps: list[str]


def latent_from_truth(truth_dir: Path, member_key: Callable[[str], str], month: str) -> LatentCopy:
    """The latent state at the end of ``month`` (``YYYY-MM``) from the truth folder;
    ``member_key`` pseudonymises an employee number (``PersonalData(keyring).member_key``).
    Members without mastery rows that month (not joined yet) are left out."""
    truth_dir = Path(truth_dir)
    mastery = _month_rows(truth_dir / "mastery_monthly.csv", month)
    if mastery.empty:
        raise ValueError(f"no mastery rows for month {month} in {truth_dir}")
    table = mastery.pivot(index="employee_no", columns="kp_id", values="mastery").sort_index()
    members = pd.read_csv(truth_dir / "members.csv", dtype=str).set_index("employee_no")
    members = members.reindex(table.index)
    rates_document = pd.read_json(truth_dir / "learning_rates.json", typ="series")
    rates = LearningRates(**dict(rates_document["learner_model"]))
    probability = np.clip(table.to_numpy(dtype=float), 1e-4, 1 - 1e-4)
    learners = LatentLearners.from_baseline(
        np.log(probability / (1 - probability)),
        members["absorb"].astype(float).to_numpy(),
        (members["check_in_only"] == "true").to_numpy(),
        rates,
    )
    keys = [member_key(str(employee_no)) for employee_no in table.index]
    return LatentCopy(learners, keys, [str(c) for c in table.columns])


TRUTH_CHUNK_ROWS = 500_000


def _month_rows(path: Path, month: str) -> pd.DataFrame:
    """The rows of ``month`` of the monthly mastery truth (``employee_no, kp_id, mastery``),
    read ``TRUTH_CHUNK_ROWS`` rows at a time: the file holds every month of every member,
    one month's rows are kept."""
    parts = [
        chunk.loc[chunk["month"] == month, ["employee_no", "kp_id", "mastery"]]
        for chunk in pd.read_csv(
            path,
            usecols=["month", "employee_no", "kp_id", "mastery"],
            dtype={"month": str, "employee_no": str, "kp_id": str, "mastery": float},
            chunksize=TRUTH_CHUNK_ROWS,
        )
    ]
    return pd.concat(parts, ignore_index=True)


def popularity_policy(
    snapshot: Snapshot, n: int, members: Sequence[str] | None = None
) -> dict[str, list[str]]:
    """The items most members launched in the last 90 days, unseen by the member;
    ``members``: those members' lists only (default every member of the snapshot; a
    member's list reads their own launches alone)."""
    keys = (
        list(snapshot.member_keys)
        if members is None
        else [key for key in members if key in snapshot.member_index]
    )
    rows = np.array([snapshot.member_index[key] for key in keys], dtype=np.intp)
    order = np.lexsort((np.arange(len(snapshot.items)), -snapshot.recent_popularity))
    out = {}
    for start in range(0, len(rows), POLICY_ROWS):  # a block of rows' scores at a time
        block = rows[start : start + POLICY_ROWS]
        scores = np.where(
            snapshot.ever_launched[block], -np.inf, snapshot.recent_popularity[None, :]
        )
        for r, key in enumerate(keys[start : start + POLICY_ROWS]):
            ranked = order[np.argsort(-scores[r, order], kind="stable")]
            out[key] = [snapshot.items[j] for j in ranked[:n] if np.isfinite(scores[r, j])]
    return out


POLICY_ROWS = 2_048
"""Members whose popularity scores ``popularity_policy`` holds at once."""


class RecommenderPolicy:
    """The policy of a ``StudyRecommender`` (roster windows as the time fit, no reasons); its
    snapshots carry the recommender's mastery model and check-in flags."""

    def __init__(self, recommender: Any) -> None:
        self.recommender = recommender

    def snapshot(self, data: LearningData, as_of: datetime) -> Snapshot:
        built: Snapshot = self.recommender.snapshot_at(data, as_of)
        return built

    def __call__(self, snapshot: Snapshot, n: int) -> dict[str, list[str]]:
        ranked = self.recommender.rank_snapshot(snapshot, k=n)
        return {
            snapshot.member_keys[row]: [snapshot.items[item] for item, _ in chosen]
            for row, chosen in ranked.items()
        }


def recommender_policy(recommender: Any) -> RecommenderPolicy:
    """The policy of a ``StudyRecommender`` (see ``RecommenderPolicy``)."""
    return RecommenderPolicy(recommender)


def _questions(fmt: str, minutes: float) -> int:
    if fmt == "quiz":
        return int(np.clip(round(0.8 * minutes), 3, 12))
    return 2 if fmt == "case" else 0


@dataclass
class SimulationResult:
    gains: pd.DataFrame  # member_key and one column of gains per policy
    summary: dict[str, float]

    def paired(self, a: str, b: str) -> dict[str, float]:
        return paired_comparison(self.gains[a].to_numpy(), self.gains[b].to_numpy())


def paired_comparison(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Mean of ``a − b``, its standard error, t, and the share of members with a > b."""
    difference = np.asarray(a, float) - np.asarray(b, float)
    n = difference.size
    if n == 0:
        return {
            "mean_difference": math.nan,
            "se": math.nan,
            "t": math.nan,
            "share_better": math.nan,
        }
    se = float(difference.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    mean = float(difference.mean())
    return {
        "mean_difference": mean,
        "se": se,
        "t": mean / se if se and se > 0 else math.nan,
        "share_better": float((difference > 0).mean()),
        "share_worse": float((difference < 0).mean()),
    }


def simulate_learning_gain(
    data: LearningData,
    latent: LatentCopy,
    policies: Mapping[str, Policy],
    *,
    start: datetime,
    weeks: int = 4,
    per_week: int = 3,
    seed: int = 0,
    members: Sequence[str] | None = None,
) -> SimulationResult:
    """Run every policy from the same copy of the latent state (see the module docstring)."""
    base = data.before(start)  # no copy when the caller holds the history only
    content: dict[str, dict[str, Any]] = {
        str(record[CONTENT_ID]): {str(k): v for k, v in record.items()}
        for record in data.content.to_dict("records")
    }
    kp_column = {kp: j for j, kp in enumerate(latent.kps)}
    latent_row = {key: i for i, key in enumerate(latent.member_keys)}
    roster = {
        str(key): (str(pattern), str(crew))
        for key, pattern, crew in zip(
            data.members[MEMBER_KEY],
            data.members["shift_pattern"],
            data.members["crew"],
            strict=True,
        )
    }
    chosen_members = [
        key
        for key in (members if members is not None else latent.member_keys)
        if key in latent_row and key in roster
    ]
    rows = np.array([latent_row[key] for key in chosen_members], dtype=np.intp)
    start_probability = sigmoid(latent.learners.mastery[rows]).mean(axis=1)
    window_cache: dict[tuple[str, str, datetime], float] = {}

    def window(key: str, at: datetime) -> float:
        pattern, crew = roster[key]
        cache_key = (pattern, crew, at)
        if cache_key not in window_cache:
            try:
                window_cache[cache_key] = float(next_free_window(pattern, crew, at)[1])
            except RosterError:
                window_cache[cache_key] = 30.0
        return window_cache[cache_key]

    gains: dict[str, np.ndarray] = {}
    for name, policy in policies.items():
        rng = np.random.default_rng([seed, 7])
        learners = latent.learners.copy()
        current = base
        for week in range(weeks):
            as_of = pd.Timestamp(start) + pd.Timedelta(days=7 * week)
            build = getattr(policy, "snapshot", None)
            snapshot = (
                build(current, as_of.to_pydatetime())
                if callable(build)
                else Snapshot.build(current, as_of.to_pydatetime())
            )
            suggestions = policy(snapshot, per_week)
            sessions: list[tuple[int, list[int], float, str, float]] = []
            statements: list[dict[str, Any]] = []
            for key in chosen_members:
                for slot, item in enumerate(suggestions.get(key, [])[:per_week]):
                    row = content[item]
                    when = as_of.to_pydatetime() + timedelta(days=2 * slot, hours=10)
                    free = window(key, when + LOCAL_OFFSET)
                    minutes = float(min(float(row["minutes"]), free))
                    kps = [kp_column[kp] for kp in row["knowledge_points"] if kp in kp_column]
                    sessions.append(
                        (
                            latent_row[key],
                            kps[:MAX_KPS],
                            minutes,
                            str(row["format"]),
                            float(row["difficulty"]),
                        )
                    )
                    statements.extend(
                        _session_statements(
                            key, item, row, when, minutes, learners, latent_row[key], kp_column, rng
                        )
                    )
            if sessions:
                padded = np.full((len(sessions), MAX_KPS), -1, dtype=np.intp)
                for s, session in enumerate(sessions):
                    padded[s, : len(session[1])] = session[1]
                learners.study(
                    np.array([s[0] for s in sessions]),
                    padded,
                    np.array([s[2] for s in sessions]),
                    np.array([s[3] for s in sessions]),
                    item_difficulty=np.array([s[4] for s in sessions]),
                )
            learners.forget(7)
            if statements:
                current = current.with_statements(pd.DataFrame(statements))
        gains[name] = sigmoid(learners.mastery[rows]).mean(axis=1) - start_probability
    frame = pd.DataFrame({MEMBER_KEY: chosen_members, **gains})
    summary: dict[str, float] = {"members": float(len(chosen_members))}
    for name in policies:
        summary[f"{name}.mean_gain"] = float(frame[name].mean())
    names = list(policies)
    if len(names) >= 2:
        for key, value in paired_comparison(
            frame[names[0]].to_numpy(), frame[names[1]].to_numpy()
        ).items():
            summary[f"{names[0]}_vs_{names[1]}.{key}"] = value
    return SimulationResult(frame, summary)


def _session_statements(
    key: str,
    item: str,
    row: Mapping[str, Any],
    when: datetime,
    minutes: float,
    learners: LatentLearners,
    latent_row: int,
    kp_column: Mapping[str, int],
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    kps = list(row["knowledge_points"])
    done = minutes >= float(row["minutes"])
    difficulty = float(row["difficulty"])
    out: list[dict[str, Any]] = [
        _statement(key, "launched", item, kps, None, None, when, difficulty),
        _statement(key, "experienced", item, kps, None, minutes * 60, when, difficulty),
    ]
    for q in range(_questions(str(row["format"]), minutes) if done else 0):
        kp = kps[q % len(kps)] if kps else None
        if kp is None or kp not in kp_column:
            continue
        p = float(learners.p_correct(latent_row, kp_column[kp], difficulty))
        success = bool(rng.random() < p)
        out.append(
            _statement(key, "answered", item, [kp], success, 60.0, when, difficulty, question=q + 1)
        )
    if done:
        out.append(_statement(key, "completed", item, kps, None, minutes * 60, when, difficulty))
    return out


def _statement(
    key: str,
    verb: str,
    item: str,
    kps: list[str],
    success: bool | None,
    duration: float | None,
    when: datetime,
    difficulty: float,
    *,
    question: int | None = None,
) -> dict[str, Any]:
    object_id = f"{CONTENT_IRI}{item}" + (f"/questions/{question}" if question else "")
    return {
        MEMBER_KEY: key,
        "verb": verb,
        CONTENT_ID: item,
        "knowledge_points": kps,
        "success": success,
        "duration_seconds": duration,
        "timestamp": pd.Timestamp(when),
        "object_id": object_id,
        "item_difficulty": difficulty,
    }
