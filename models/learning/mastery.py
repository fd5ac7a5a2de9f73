"""The mastery model: P(next answer right) per learner and knowledge point, shared by the
training job, the recommender and the service.

A ``MasteryModel`` holds, as plain data (JSON plus LightGBM's model text, no pickle):

* a ``DifficultyTable``: per item and per knowledge point (KP), the difficulty in logits,
  ``-logit(share of right answers)``, shrunk towards the KP (items) and the overall rate
  (KPs), learnt from the **training split only**;
* a LightGBM binary classifier (modest trees) on ``MODEL_FEATURES``: the learner-history
  features of ``features.learning.kt_features`` plus the item and KP difficulty and two
  Elo-style ability estimates, ``ability_residual`` (the shrunk mean of
  ``outcome - expected`` over the learner's earlier answers, where ``expected`` is the
  share right the item's difficulty implies: an Elo rating whose step shrinks as 1/n, so it
  is a cumulative sum and vectorises) and ``kp_residual`` (the same on the row's KP).

Leakage. History features use the learner's strictly earlier events only. Difficulty is the
one place other learners enter: at prediction time it comes from the training split, which
holds none of the test rows' outcomes (a time split trains on events before the cut; a
learner split on other learners). While fitting, each training row's difficulty comes
*out of fold*: from the training learners in the other ``difficulty_folds`` folds (folds by
learner), so no row's own outcome, nor any of its learner's answers, sits in its own
difficulty feature; otherwise rare items would carry their label into the feature and the
trees would learn to trust a difficulty that is never that good on new data.

``predict_next(events)`` answers, for each ``response`` or ``probe`` row, the probability that
it is right given everything earlier. ``mastery_profile(events, kps, as_of)`` is the number the
recommender and the API show: per KP, the probability of answering a next item of average
difficulty on that KP right (a ``probe`` at ``as_of``: the item's difficulty is the KP's, the
stated difficulty the training mean; events after ``as_of`` are ignored).

``PfaLogistic`` is the plain baseline: Performance Factors Analysis, a logistic regression
with a per-KP intercept and per-KP slopes on ``log1p`` of the learner's earlier successes and
failures on the KP (scikit-learn).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sparse

from features.learning.kt_features import (
    CORRECT,
    FEATURES,
    ITEM,
    KIND,
    KP,
    MEMBER,
    PROBE,
    RESPONSE,
    STATED_DIFFICULTY,
    TIMESTAMP,
    learner_bounds,
    prior_sum,
    probe_events,
    response_features,
    sort_events,
    stored_history,
    without_history,
)
from models.learning.rows import row_files

FORMAT_VERSION = 1
MODEL_FILE = "mastery_model.json"
BOOSTER_FILE = "booster.txt"

MODEL_FEATURES: tuple[str, ...] = (
    *FEATURES,
    "item_difficulty",
    "kp_difficulty",
    "ability_residual",
    "kp_residual",
)
PROFILE_COLUMNS = ("kp_id", "p_correct", "attempts", "last_practised")
ABILITY_PSEUDO_COUNT = 5.0
KP_RESIDUAL_PSEUDO_COUNT = 2.0
PROFILE_CHUNK_LEARNERS = 500
"""Learners per partition of ``fit``, ``mastery_profiles`` and ``predict_next``: each
partition's history features are built and dropped before the next, so memory follows the
partition, not every learner's events (``fit`` keeps each partition's rows on disk for
LightGBM, ``models.learning.rows``)."""

TRAINING_ROW_BUDGET = 1_000_000
"""Most response rows ``MasteryModel.fit`` gives LightGBM (``training_learners``: whole
learners in a seeded hash order until the budget is reached), so that the booster's data
and rounds stop growing with the store. The demo world's time split holds about 90,000
training responses per unit of scale, so worlds up to scale 10 train whole: a sampled
booster shifts the mastery gains that the check-in rule compares with an absolute
threshold (at scale 10, a quarter of the rows moved the flagged count by 5 %)."""

FloatArray = npt.NDArray[np.float64]


class MasteryModelError(RuntimeError):
    """The model is not fitted, or the events cannot be used to fit it."""


def _logit(p: FloatArray) -> FloatArray:
    clipped = np.clip(p, 1e-4, 1 - 1e-4)
    return np.asarray(np.log(clipped / (1 - clipped)), dtype=float)


def _sigmoid(x: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=float)


class DifficultyTable:
    """Item and KP difficulty in logits (``-logit`` of the shrunk share right).

    A KP's share right is shrunk towards the overall share with ``kp_pseudo_count``
    pseudo-answers, an item's towards its KP's with ``item_pseudo_count``. Unseen items take
    their KP's difficulty, unseen KPs the overall one. Learnt state: ``global_``, ``kps_``,
    ``items_`` (dicts id → logits).
    """

    def __init__(self, *, kp_pseudo_count: float = 20.0, item_pseudo_count: float = 10.0) -> None:
        self.kp_pseudo_count = kp_pseudo_count
        self.item_pseudo_count = item_pseudo_count

    def fit(self, responses: pd.DataFrame) -> DifficultyTable:
        """``responses``: rows with ``kp_id``, ``item_id`` and ``correct`` (0/1)."""
        if responses.empty:
            raise MasteryModelError("no responses to learn difficulty from")
        correct = responses[CORRECT].astype(float)
        overall = float(correct.mean())
        by_kp = correct.groupby(responses[KP]).agg(["sum", "count"])
        kp_share = (by_kp["sum"] + self.kp_pseudo_count * overall) / (
            by_kp["count"] + self.kp_pseudo_count
        )
        by_item = correct.groupby([responses[ITEM], responses[KP]]).agg(["sum", "count"])
        item_kp_share = kp_share.reindex(by_item.index.get_level_values(1)).to_numpy()
        item_share = (by_item["sum"].to_numpy() + self.item_pseudo_count * item_kp_share) / (
            by_item["count"].to_numpy() + self.item_pseudo_count
        )
        self.global_ = float(-_logit(np.array([overall]))[0])
        self.kps_ = dict(
            zip(kp_share.index.astype(str), (-_logit(kp_share.to_numpy())).tolist(), strict=True)
        )
        item_logits = pd.Series(-_logit(item_share), index=by_item.index.get_level_values(0))
        # an item on several KPs: its mean over them
        self.items_ = item_logits.groupby(level=0).mean().to_dict()
        return self

    def transform(self, items: pd.Series, kps: pd.Series) -> tuple[FloatArray, FloatArray]:
        """``(item_difficulty, kp_difficulty)`` per row, in logits."""
        if not hasattr(self, "kps_"):
            raise MasteryModelError("DifficultyTable is not fitted")
        kp = kps.map(self.kps_).fillna(self.global_).to_numpy(dtype=float)
        item = items.map(self.items_).to_numpy(dtype=float)
        return np.where(np.isnan(item), kp, item), kp

    def to_dict(self) -> dict[str, Any]:
        return {
            "kp_pseudo_count": self.kp_pseudo_count,
            "item_pseudo_count": self.item_pseudo_count,
            "global": self.global_,
            "kps": self.kps_,
            "items": self.items_,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DifficultyTable:
        table = cls(
            kp_pseudo_count=float(data["kp_pseudo_count"]),
            item_pseudo_count=float(data["item_pseudo_count"]),
        )
        table.global_ = float(data["global"])
        table.kps_ = {str(k): float(v) for k, v in data["kps"].items()}
        table.items_ = {str(k): float(v) for k, v in data["items"].items()}
        return table


def learner_folds(members: pd.Series, n_folds: int) -> npt.NDArray[np.int64]:
    """A stable fold number per row from a hash of the learner's key."""
    hashed = pd.util.hash_array(members.astype(str).to_numpy(dtype=object))
    return np.asarray(hashed % np.uint64(n_folds), dtype=np.int64)


def training_learners(
    responses: pd.Series, budget: int | None, *, seed: int = 0
) -> set[str] | None:
    """The learners whose responses ``MasteryModel.fit`` trains LightGBM on, given every
    training response's learner key (``responses``): None (all of them) when they hold at
    most ``budget`` rows, else whole learners taken in the order of a seeded hash of their key
    (an order that does not depend on the data: a learner's features need all of their
    earlier answers, so learners are kept or dropped whole) for as long as their responses
    fit the budget. The sample is a uniform draw of learners, so the rows keep the
    population's mix of heavy and light learners."""
    if budget is None or len(responses) <= budget:
        return None
    counts = responses.astype(str).value_counts()
    keys = counts.index.to_numpy(dtype=object)
    order = seeded_order(keys, seed)
    taken = np.cumsum(counts.to_numpy()[order]) <= budget
    return {str(key) for key in keys[order][taken]}


def seeded_order(keys: Iterable[str] | npt.NDArray[np.object_], seed: int) -> npt.NDArray[np.intp]:
    """Positions of ``keys`` in the order of a hash of ``seed`` and the key: a fixed
    pseudo-random order (the same for a key whatever the other keys), for samples of
    learners that a rerun on the same data draws again."""
    salted = np.array([f"{seed}:{key}" for key in keys], dtype=object)
    return np.argsort(pd.util.hash_array(salted), kind="stable").astype(np.intp)


def _difficulty_frame(
    events: pd.DataFrame, rows: pd.Index, item: FloatArray, kp: FloatArray
) -> pd.DataFrame:
    """Difficulty and Elo-style residual columns for ``rows`` of the sorted ``events``, given
    every event row's item and KP difficulty (NaN on study rows)."""
    kind = events[KIND].to_numpy()
    answered = kind == RESPONSE
    expected = _sigmoid(-np.nan_to_num(item))
    surprise = np.where(
        answered, np.nan_to_num(events[CORRECT].to_numpy(dtype=float)) - expected, 0
    )
    counted = answered.astype(float)
    member = pd.factorize(events[MEMBER])[0]
    member_kp = events.groupby([MEMBER, KP], sort=False).ngroup().to_numpy()
    ability = prior_sum(surprise, member) / (prior_sum(counted, member) + ABILITY_PSEUDO_COUNT)
    kp_residual = prior_sum(surprise, member_kp) / (
        prior_sum(counted, member_kp) + KP_RESIDUAL_PSEUDO_COUNT
    )
    frame = pd.DataFrame(
        {
            "item_difficulty": item,
            "kp_difficulty": kp,
            "ability_residual": ability,
            "kp_residual": kp_residual,
        },
        index=events.index,
    )
    return frame.loc[rows]


def _learner_bounds(ordered: pd.DataFrame) -> list[tuple[int, int]]:
    """``kt_features.learner_bounds`` with ``PROFILE_CHUNK_LEARNERS`` learners a partition."""
    return learner_bounds(ordered, PROFILE_CHUNK_LEARNERS)


class MasteryModel:
    """LightGBM on learner history and difficulty; see the module docstring.

    Keyword-only parameters are LightGBM's (modest trees) and the number of learner folds
    for out-of-fold difficulty. Learnt state: ``difficulty_``, ``booster_``,
    ``reference_difficulty_`` (mean stated difficulty of the training answers, NaN when the
    data has none), ``metadata_``.
    """

    def __init__(
        self,
        *,
        n_estimators: int = 300,
        num_leaves: int = 15,
        learning_rate: float = 0.05,
        min_data_in_leaf: int = 200,
        difficulty_folds: int = 5,
        seed: int = 0,
        max_training_rows: int | None = TRAINING_ROW_BUDGET,
    ) -> None:
        self.n_estimators = n_estimators
        self.num_leaves = num_leaves
        self.learning_rate = learning_rate
        self.min_data_in_leaf = min_data_in_leaf
        self.difficulty_folds = difficulty_folds
        self.seed = seed
        self.max_training_rows = max_training_rows

    # -- fitting ---------------------------------------------------------------------------

    def lightgbm_params(self) -> dict[str, Any]:
        """LightGBM's parameters. One thread: with ``deterministic`` the trees are those of
        two threads (LightGBM's own guarantee, and checked on the demo world), and two
        OpenMP threads that share their cores with other processes wait on each other at
        every split (six times slower per boosting round on a shared two-core machine)."""
        return {
            "objective": "binary",
            "num_leaves": self.num_leaves,
            "learning_rate": self.learning_rate,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": 0.9,
            "lambda_l2": 1.0,
            "seed": self.seed,
            "deterministic": True,
            "num_threads": 1,
            "verbose": -1,
        }

    def fit(self, events: pd.DataFrame) -> MasteryModel:
        """Fit on every ``response`` row of ``events`` (the training split's event frame)."""
        events = sort_events(events)
        responses = events[events[KIND] == RESPONSE]
        if responses[CORRECT].nunique() < 2:
            raise MasteryModelError("training responses need both right and wrong answers")
        self.difficulty_ = DifficultyTable().fit(responses)
        stated = responses[STATED_DIFFICULTY].astype(float)
        self.reference_difficulty_ = float(stated.mean()) if stated.notna().any() else np.nan
        item = np.full(len(events), np.nan)
        kp = np.full(len(events), np.nan)
        folds = learner_folds(events[MEMBER], self.difficulty_folds)
        response_folds = folds[responses.index.to_numpy()]
        for fold in range(self.difficulty_folds):
            others = responses[response_folds != fold]
            table = DifficultyTable().fit(others) if not others.empty else self.difficulty_
            in_fold = (folds == fold) & (events[KIND] != "study").to_numpy()
            item[in_fold], kp[in_fold] = table.transform(
                events.loc[in_fold, ITEM], events.loc[in_fold, KP]
            )
        # difficulty above reads every training response; the booster's rows are those of
        # the sampled learners (``training_learners``), built a partition of learners at a
        # time (a row's history features read its own learner's earlier rows only), to disk,
        # binned by LightGBM
        sampled = training_learners(responses[MEMBER], self.max_training_rows, seed=self.seed)
        kept = (
            np.ones(len(events), dtype=bool)
            if sampled is None
            else events[MEMBER].astype(str).isin(sampled).to_numpy()
        )
        rows = 0
        with row_files("mastery") as files:
            for begin, end in _learner_bounds(events):
                if not kept[begin:end].any():
                    continue
                chosen = kept[begin:end]
                features, labels = self.partition_rows(
                    events.iloc[begin:end][chosen], item[begin:end][chosen], kp[begin:end][chosen]
                )
                files.add(features, labels)
                rows += len(labels)
            dataset = files.dataset(list(MODEL_FEATURES))
            self.booster_ = lgb.train(self.lightgbm_params(), dataset, self.n_estimators)
        self.metadata_: dict[str, Any] = {
            "training_responses": len(responses),
            "training_learners": int(responses[MEMBER].nunique()),
            "booster_rows": rows,
            "booster_learners": (
                int(responses[MEMBER].nunique()) if sampled is None else len(sampled)
            ),
        }
        return self

    def partition_rows(
        self, events: pd.DataFrame, item: FloatArray, kp: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """One learner partition's booster rows: ``MODEL_FEATURES`` (``(responses, n)``
        float64) and the outcomes of the ``response`` rows of ``events`` (whole learners'
        sorted events, history stored or not), given each event row's out-of-fold item and
        KP difficulty (``item``, ``kp``; NaN on study rows). A row reads its own learner's
        earlier rows and the difficulty only, so partitions may be built apart (one per
        worker) and their rows, joined in learner order, are those ``fit`` trains on."""
        matrix = self._matrix(events, item, kp)
        responses = (events.loc[matrix.index, KIND] == RESPONSE).to_numpy()
        matrix = matrix[responses]
        outcome = events.loc[matrix.index, CORRECT].to_numpy(dtype=float)
        return matrix.to_numpy(dtype=float), outcome

    def _matrix(self, events: pd.DataFrame, item: FloatArray, kp: FloatArray) -> pd.DataFrame:
        stored = stored_history(events)
        history = response_features(events) if stored is None else stored
        difficulty = _difficulty_frame(events, history.index, item, kp)
        return pd.concat([history, difficulty], axis=1)[list(MODEL_FEATURES)]

    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise MasteryModelError("MasteryModel is not fitted")

    # -- prediction ------------------------------------------------------------------------

    def matrix(self, events: pd.DataFrame) -> pd.DataFrame:
        """``MODEL_FEATURES`` for the ``response`` and ``probe`` rows of ``events`` (sorted by
        ``sort_events``; the index is the sorted events' index), difficulty from the table."""
        self._check_fitted()
        scored = (events[KIND] != "study").to_numpy()
        item = np.full(len(events), np.nan)
        kp = np.full(len(events), np.nan)
        item[scored], kp[scored] = self.difficulty_.transform(
            events.loc[scored, ITEM], events.loc[scored, KP]
        )
        return self._matrix(events, item, kp)

    def predict_next(self, events: pd.DataFrame) -> pd.Series:
        """P(right) for each ``response``/``probe`` row of ``events``, from its earlier events.

        ``events`` is an event frame (``kt_features.build_events``); it is sorted first, and
        the answer is indexed like the sorted frame's rows (``sort_events(events)``), named
        ``p_correct``.
        """
        self._check_fitted()
        ordered = sort_events(events)
        parts = []
        for begin, end in _learner_bounds(ordered):
            matrix = self.matrix(ordered.iloc[begin:end])
            parts.append(
                pd.Series(self.booster_.predict(matrix, num_threads=1), index=matrix.index)
            )
        return pd.concat(parts).rename("p_correct")

    def mastery_profiles(
        self,
        events: pd.DataFrame,
        kps: Iterable[str],
        as_of: pd.Timestamp | str,
        *,
        members: Iterable[str] | None = None,
        with_features: bool = False,
    ) -> pd.DataFrame:
        """``mastery_profile`` for many learners at once: columns ``member_key`` and
        ``PROFILE_COLUMNS``, one row per learner and KP. ``members`` defaults to the learners
        with events up to ``as_of``; a learner without any gets the cold-start profile.
        ``with_features``: the ``MODEL_FEATURES`` each ``p_correct`` was predicted from
        follow as columns (what drift monitoring bins).

        A learner's rows depend on their own events only (history features are per learner,
        difficulty comes from the fitted table), so profiles of a few learners equal their
        rows of everyone's: the recommender's snapshot updates one member's mastery this way,
        and the learners are taken ``PROFILE_CHUNK_LEARNERS`` at a time (the history features
        of one partition at once, not of every event up to ``as_of``).
        """
        self._check_fitted()
        moment = pd.Timestamp(as_of)
        kp_list = [str(kp) for kp in kps]
        past = without_history(events[(events[TIMESTAMP] <= moment) & (events[KIND] != PROBE)])
        learners = list(dict.fromkeys(past[MEMBER].unique() if members is None else members))
        columns = [MEMBER, *PROFILE_COLUMNS, *(MODEL_FEATURES if with_features else ())]
        if not learners or not kp_list:
            return pd.DataFrame(columns=columns)
        # sorted learners in contiguous chunks: the concatenation is in the order one frame
        # of everyone would sort to (sort_events orders by learner first)
        ordered = sorted(learners, key=str)
        codes, uniques = pd.factorize(past[MEMBER])
        code_of = {key: code for code, key in enumerate(uniques)}
        parts = []
        for start in range(0, len(ordered), PROFILE_CHUNK_LEARNERS):
            chunk = ordered[start : start + PROFILE_CHUNK_LEARNERS]
            wanted = np.array([code_of[key] for key in chunk if key in code_of], dtype=np.intp)
            parts.append(
                self._profiles_chunk(
                    past[np.isin(codes, wanted)], chunk, kp_list, moment, with_features
                )
            )
        return pd.concat(parts, ignore_index=True)[columns]

    def _profiles_chunk(
        self,
        past: pd.DataFrame,
        learners: list[str],
        kp_list: list[str],
        moment: pd.Timestamp,
        with_features: bool,
    ) -> pd.DataFrame:
        """``mastery_profiles`` of ``learners`` from ``past`` (their events up to ``moment``,
        probes excluded), all columns."""
        probes = probe_events(
            learners, kp_list, moment, stated_difficulty=self.reference_difficulty_
        )
        combined = sort_events(pd.concat([past, probes]))
        matrix = self.matrix(combined)
        probe_rows = matrix[(combined.loc[matrix.index, KIND] == PROBE).to_numpy()]
        keys = combined.loc[probe_rows.index, [MEMBER, KP]]
        practised = past.groupby([MEMBER, KP])[TIMESTAMP].max().rename("last_practised")
        profile = pd.DataFrame(
            {
                MEMBER: keys[MEMBER].to_numpy(),
                "kp_id": keys[KP].to_numpy(),
                "p_correct": self.booster_.predict(probe_rows, num_threads=1),
                "attempts": probe_rows["kp_attempts"].to_numpy().astype(int),
            }
        )
        if with_features:
            profile = pd.concat([profile, probe_rows.reset_index(drop=True)], axis=1)
        return profile.merge(
            practised.reset_index().rename(columns={KP: "kp_id"}),
            on=[MEMBER, "kp_id"],
            how="left",
        )

    def mastery_profile(
        self,
        events: pd.DataFrame,
        kps: Iterable[str],
        as_of: pd.Timestamp | str,
        *,
        with_features: bool = False,
    ) -> pd.DataFrame:
        """One learner's profile: per KP in ``kps`` (in that order), ``p_correct`` (a next item
        of average difficulty answered right), ``attempts`` (answers on the KP up to
        ``as_of``) and ``last_practised`` (last answer or study on the KP, NaT if never).

        ``events`` holds that learner's events (another learner's are refused); with none,
        the profile is the cold-start one (KP difficulty alone). ``with_features``: as in
        ``mastery_profiles``.
        """
        kp_list = [str(kp) for kp in kps]
        members = events[MEMBER].unique().tolist()
        if len(members) > 1:
            raise MasteryModelError(
                f"mastery_profile takes one learner's events, got {len(members)} learners"
            )
        member = members[0] if members else "cold-start"
        profile = self.mastery_profiles(
            events, kp_list, as_of, members=[member], with_features=with_features
        )
        return profile.drop(columns=MEMBER).reset_index(drop=True)

    # -- persistence -----------------------------------------------------------------------

    def save(self, folder: Path) -> Path:
        """Write ``MODEL_FILE`` (JSON) and ``BOOSTER_FILE`` (LightGBM text) into ``folder``."""
        self._check_fitted()
        folder.mkdir(parents=True, exist_ok=True)
        state = {
            "format_version": FORMAT_VERSION,
            "params": {
                "n_estimators": self.n_estimators,
                "num_leaves": self.num_leaves,
                "learning_rate": self.learning_rate,
                "min_data_in_leaf": self.min_data_in_leaf,
                "difficulty_folds": self.difficulty_folds,
                "seed": self.seed,
                "max_training_rows": self.max_training_rows,
            },
            "features": list(MODEL_FEATURES),
            "difficulty": self.difficulty_.to_dict(),
            "reference_difficulty": None
            if np.isnan(self.reference_difficulty_)
            else self.reference_difficulty_,
            "metadata": self.metadata_,
        }
        (folder / MODEL_FILE).write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
        self.booster_.save_model(str(folder / BOOSTER_FILE))
        return folder

    @classmethod
    def load(cls, folder: Path) -> MasteryModel:
        state = json.loads((folder / MODEL_FILE).read_text(encoding="utf-8"))
        if state.get("format_version") != FORMAT_VERSION:
            raise MasteryModelError(f"unknown mastery model format {state.get('format_version')}")
        if list(state["features"]) != list(MODEL_FEATURES):
            raise MasteryModelError("the saved model was trained on other features")
        model = cls(**state["params"])
        model.difficulty_ = DifficultyTable.from_dict(state["difficulty"])
        reference = state["reference_difficulty"]
        model.reference_difficulty_ = np.nan if reference is None else float(reference)
        model.metadata_ = dict(state["metadata"])
        model.booster_ = lgb.Booster(model_file=str(folder / BOOSTER_FILE))
        return model


class PfaLogistic:
    """Performance Factors Analysis: ``logit P = b_kp + g_kp·log1p(s) + r_kp·log1p(f)`` with
    ``s``/``f`` the learner's earlier successes/failures on the KP; L2-regularised logistic
    regression. Learnt state: ``kps_`` (column order), ``coef_``, ``intercept_``."""

    def __init__(self, *, c: float = 1.0) -> None:
        self.c = c

    def _design(self, events: pd.DataFrame) -> tuple[sparse.csr_matrix, pd.Index]:
        stored = stored_history(events)
        history = response_features(events) if stored is None else stored
        kps = events.loc[history.index, KP].map(self.index_).fillna(-1).to_numpy(dtype=int)
        known = kps >= 0
        n, k = len(history), len(self.kps_)
        rows = np.flatnonzero(known)
        columns = kps[known]
        successes = np.log1p(history["kp_successes"].to_numpy())[known]
        failures = np.log1p(history["kp_failures"].to_numpy())[known]
        data = np.concatenate([np.ones(rows.size), successes, failures])
        design = sparse.csr_matrix(
            (data, (np.tile(rows, 3), np.concatenate([columns, columns + k, columns + 2 * k]))),
            shape=(n, 3 * k),
        )
        return design, history.index

    def fit(self, events: pd.DataFrame) -> PfaLogistic:
        from sklearn.linear_model import LogisticRegression

        events = sort_events(events)
        self.kps_ = sorted(events.loc[events[KIND] == RESPONSE, KP].astype(str).unique())
        self.index_ = {kp: i for i, kp in enumerate(self.kps_)}
        design, index = self._design(events)
        labels = events.loc[index, CORRECT].to_numpy(dtype=int)
        fitted = LogisticRegression(C=self.c, max_iter=500).fit(design, labels)
        self.coef_ = fitted.coef_[0].copy()
        self.intercept_ = float(fitted.intercept_[0])
        return self

    def predict_next(self, events: pd.DataFrame) -> pd.Series:
        """P(right) per ``response``/``probe`` row, indexed like ``sort_events(events)``."""
        if not hasattr(self, "coef_"):
            raise MasteryModelError("PfaLogistic is not fitted")
        design, index = self._design(sort_events(events))
        logits = design @ self.coef_ + self.intercept_
        return pd.Series(_sigmoid(np.asarray(logits, dtype=float)), index=index, name="p_correct")
