"""The latent learning model: how members' mastery moves as they study, answer and forget.

Pure and reusable: the demo world simulates a year with it, and the recommender's evaluation
uses it as the simulator of "learning gain when members follow the suggestions".

* Mastery is a logit per member and knowledge point (KP): ``mastery[m, k]``.
* Item difficulty is on the catalogue's 0–1 scale; ``difficulty_logit`` maps it to logits
  (0.5 → 0, 0 → -2, 1 → +2).
* Answering (Rasch/1PL): ``P(correct) = sigmoid(mastery - difficulty_logit(d))``. A
  "check-in only" learner does not engage and answers at ``guess_accuracy`` whatever they know.
* Studying raises mastery on each KP of the item by ``learning_gain``: base rate × the
  learner's absorption × the format's multiplier (active formats teach more) ×
  ``log1p(minutes / minutes_scale)`` (diminishing returns in time) × headroom (less to gain
  near ``mastery_cap``) × fit (content far from the learner's level teaches less), shared
  between the item's KPs (÷ √n_kps). A fraction ``consolidation`` of every gain becomes
  durable (raises the floor).
* Forgetting: the part of mastery above the floor decays exponentially with
  ``forgetting_half_life_days``.

``mastery_probability`` (``sigmoid(mastery)``) is the probability of answering a question of
difficulty 0.5 on the KP right: the "mastery" the truth files report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from features.learning.kt_features import difficulty_logit

FORMATS: tuple[str, ...] = ("video", "article", "case", "quiz", "live")

FloatArray = NDArray[np.float64]


def _default_format_multiplier() -> dict[str, float]:
    return {"video": 0.8, "article": 0.9, "case": 1.3, "quiz": 1.5, "live": 1.0}


@dataclass(frozen=True)
class LearningRates:
    """The parameters of the model; the world writes them to ``truth/learning_rates.json``."""

    base_gain: float = 0.6  # logits per KP for 10 minutes (× log1p(1)) at multiplier 1
    minutes_scale: float = 10.0  # minutes; gain grows as log1p(minutes / minutes_scale)
    format_multiplier: Mapping[str, float] = field(default_factory=_default_format_multiplier)
    mastery_cap: float = 3.0  # logits; gains halve here and vanish above it
    fit_width: float = 2.0  # logits; gains fall off as content is this far from the learner
    fit_floor: float = 0.4  # the share of the gain that content of any level still gives
    consolidation: float = 0.2  # share of each gain that is never forgotten
    forgetting_half_life_days: float = 120.0
    guess_accuracy: float = 0.3  # check-in-only learners' chance of a right answer

    def as_dict(self) -> dict[str, object]:
        values = asdict(self)
        values["format_multiplier"] = dict(self.format_multiplier)
        return values


def sigmoid(x: ArrayLike) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def rasch_p_correct(mastery_logit: ArrayLike, item_difficulty: ArrayLike) -> FloatArray:
    """P(correct) of an engaged learner: ``sigmoid(mastery - difficulty_logit(d))``."""
    return sigmoid(np.asarray(mastery_logit, dtype=np.float64) - difficulty_logit(item_difficulty))


def learning_gain(
    mastery_logit: ArrayLike,
    item_difficulty: ArrayLike,
    minutes: ArrayLike,
    format_multiplier: ArrayLike,
    absorb: ArrayLike,
    n_kps: ArrayLike,
    rates: LearningRates,
) -> FloatArray:
    """Gain in logits on one KP from one study session; all arguments broadcast.

    ``minutes`` is the time actually spent on the content (not the time logged).
    """
    mastery = np.asarray(mastery_logit, dtype=np.float64)
    headroom = sigmoid(2.0 * (rates.mastery_cap - mastery))
    distance = mastery - difficulty_logit(item_difficulty)
    fit = rates.fit_floor + (1.0 - rates.fit_floor) * np.exp(
        -0.5 * (distance / rates.fit_width) ** 2
    )
    time_factor = np.log1p(
        np.maximum(np.asarray(minutes, dtype=np.float64), 0.0) / rates.minutes_scale
    )
    gain: FloatArray = (
        rates.base_gain
        * np.asarray(absorb, dtype=np.float64)
        * np.asarray(format_multiplier, dtype=np.float64)
        * time_factor
        * headroom
        * fit
        / np.sqrt(np.asarray(n_kps, dtype=np.float64))
    )
    return gain


@dataclass
class LatentLearners:
    """Latent state of ``n_members`` learners over ``n_kps`` knowledge points.

    ``mastery`` and ``floor`` are ``(n_members, n_kps)`` logits (``floor`` is what is never
    forgotten: prior knowledge plus consolidated gains); ``absorbs`` ``(n_members,)`` scales
    every gain (≈1 typical, ≈0 for check-in-only learners); ``check_in_only`` ``(n_members,)``
    marks learners who answer by guessing.
    """

    mastery: FloatArray
    floor: FloatArray
    absorbs: FloatArray
    check_in_only: NDArray[np.bool_]
    rates: LearningRates = field(default_factory=LearningRates)

    @classmethod
    def from_baseline(
        cls,
        baseline: ArrayLike,
        absorbs: ArrayLike,
        check_in_only: ArrayLike | None = None,
        rates: LearningRates | None = None,
    ) -> LatentLearners:
        """Learners who know ``baseline`` (logits, kept as the floor) and absorb ``absorbs``."""
        mastery = np.array(baseline, dtype=np.float64, copy=True)
        if mastery.ndim != 2:
            raise ValueError(f"baseline must be (n_members, n_kps), got shape {mastery.shape}")
        absorb = np.broadcast_to(np.asarray(absorbs, dtype=np.float64), mastery.shape[:1]).copy()
        flags = (
            np.zeros(mastery.shape[0], dtype=bool)
            if check_in_only is None
            else np.asarray(check_in_only, dtype=bool).copy()
        )
        return cls(mastery, mastery.copy(), absorb, flags, rates or LearningRates())

    @property
    def n_members(self) -> int:
        return int(self.mastery.shape[0])

    @property
    def n_kps(self) -> int:
        return int(self.mastery.shape[1])

    def copy(self) -> LatentLearners:
        return LatentLearners(
            self.mastery.copy(),
            self.floor.copy(),
            self.absorbs.copy(),
            self.check_in_only.copy(),
            self.rates,
        )

    def mastery_probability(self) -> FloatArray:
        """``(n_members, n_kps)``: P(correct) on a question of difficulty 0.5."""
        return sigmoid(self.mastery)

    def p_correct(self, member: ArrayLike, kp: ArrayLike, item_difficulty: ArrayLike) -> FloatArray:
        """P(correct answer) for member(s) on question(s) of ``kp`` (index) and difficulty (0–1)."""
        members = np.asarray(member, dtype=np.intp)
        kps = np.asarray(kp, dtype=np.intp)
        engaged = rasch_p_correct(self.mastery[members, kps], item_difficulty)
        return np.where(self.check_in_only[members], self.rates.guess_accuracy, engaged)

    def study(
        self,
        member: ArrayLike,
        item_kps: ArrayLike,
        minutes: ArrayLike,
        format: ArrayLike,
        *,
        item_difficulty: ArrayLike = 0.5,
        absorbs: ArrayLike | None = None,
    ) -> FloatArray:
        """Apply study sessions and return their gains, ``(n_sessions, max_kps)`` logits.

        ``member`` is one index or ``(n,)``; ``item_kps`` the KP indices of each session's item,
        ``(n, k)`` padded with -1 (or a flat list for one session); ``minutes`` time spent;
        ``format`` a name in ``FORMATS`` or ``(n,)`` of them; ``absorbs`` overrides the
        learners' own. Sessions in one call all start from the same state (they are
        simultaneous); gains on the same cell add up.
        """
        members = np.atleast_1d(np.asarray(member, dtype=np.intp))
        kps = np.asarray(item_kps, dtype=np.intp)
        if kps.ndim == 1:
            kps = kps[None, :] if members.size == 1 else kps[:, None]
        if kps.shape[0] != members.size:
            raise ValueError(f"{members.size} members but {kps.shape[0]} rows of item_kps")
        formats = np.broadcast_to(np.asarray(format), members.shape)
        try:
            multiplier = np.array([self.rates.format_multiplier[str(f)] for f in formats])
        except KeyError as error:
            raise ValueError(
                f"unknown format {error.args[0]!r}; known: {', '.join(FORMATS)}"
            ) from error
        absorb = (
            self.absorbs[members] if absorbs is None else np.broadcast_to(absorbs, members.shape)
        )
        valid = kps >= 0
        safe_kps = np.where(valid, kps, 0)
        rows = np.broadcast_to(members[:, None], kps.shape)
        gains = learning_gain(
            self.mastery[rows, safe_kps],
            np.broadcast_to(np.asarray(item_difficulty, dtype=np.float64), members.shape)[:, None],
            np.broadcast_to(np.asarray(minutes, dtype=np.float64), members.shape)[:, None],
            multiplier[:, None],
            np.asarray(absorb, dtype=np.float64)[:, None],
            np.maximum(valid.sum(axis=1), 1)[:, None],
            self.rates,
        )
        gains = np.where(valid, gains, 0.0)
        np.add.at(self.mastery, (rows[valid], kps[valid]), gains[valid])
        np.add.at(self.floor, (rows[valid], kps[valid]), self.rates.consolidation * gains[valid])
        return gains

    def forget(self, days: float) -> None:
        """Let ``days`` pass: mastery above the floor decays with the forgetting half-life."""
        if days <= 0:
            return
        decay = 0.5 ** (days / self.rates.forgetting_half_life_days)
        self.mastery -= self.floor
        self.mastery *= decay
        self.mastery += self.floor
