"""Baseline recommenders on implicit interactions: popularity, item-to-item co-occurrence, EASE.

All three read an interaction frame with columns ``user`` and ``item`` (and optionally
``weight``; repeated pairs add up, then every positive cell counts as 1: implicit feedback),
follow the estimator habit (keyword-only ``__init__`` that only stores parameters, learned
state in attributes ending in ``_``, ``fit`` returns ``self``) and answer

* ``scores(users)``: ``(n_users, n_items)`` float64, one row per user in the order given,
  columns in ``items_`` order (a user unseen in training gets the popularity row);
* ``recommend(users, k, exclude_seen=True)``: ``{user: [item, ...]}``, best first, ties
  broken by the item's popularity, then by its id.

EASE (Steck, 2019, "Embarrassingly shallow autoencoders"): with the binary user × item matrix
X and the Gram matrix G = XᵀX, P = (G + λI)⁻¹ and B = I − P·diag(1/diag(P)) (so the
diagonal of B is zero: an item never explains itself); scores are X·B. Memory and time grow
with the square and the cube of the item count; X is held sparse (``implicit_matrix``), so
the users cost their interactions only, and a user's dense row is made when they are scored.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sparse
from numpy.typing import ArrayLike, NDArray

USER, ITEM, WEIGHT = "user", "item", "weight"

FloatArray = NDArray[np.float64]


class NotFittedError(RuntimeError):
    """``scores`` or ``recommend`` before ``fit``."""


class _ImplicitRecommender:
    """Shared input handling: the binary user × item matrix and the ranking."""

    items_: list[str]
    users_: dict[str, int]
    seen_: sparse.csr_matrix  # (n_users, n_items) 0/1, sparse: a user's row holds their items
    popularity_: FloatArray  # (n_items,) users per item

    def _fit_matrix(self, interactions: pd.DataFrame) -> sparse.csr_matrix:
        missing = {USER, ITEM} - set(interactions.columns)
        if missing:
            raise ValueError(f"interactions need column(s) {sorted(missing)}")
        users = interactions[USER].astype(str)
        items = interactions[ITEM].astype(str)
        self.items_ = sorted(items.unique().tolist())
        user_ids = sorted(users.unique().tolist())
        self.users_ = {user: i for i, user in enumerate(user_ids)}
        item_index = {item: j for j, item in enumerate(self.items_)}
        matrix = implicit_matrix(
            users.map(self.users_).to_numpy(dtype=np.intp),
            items.map(item_index).to_numpy(dtype=np.intp),
            (len(user_ids), len(self.items_)),
        )
        self.seen_ = matrix
        self.popularity_ = np.asarray(matrix.sum(axis=0), dtype=np.float64).reshape(-1)
        return matrix

    def _check_fitted(self) -> None:
        if not hasattr(self, "items_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted")

    def _user_rows(self, users: Sequence[str]) -> tuple[FloatArray, NDArray[np.bool_]]:
        """The users' seen rows (zeros when unknown) and whether each is known."""
        index = np.array([self.users_.get(str(u), -1) for u in users], dtype=np.intp)
        known = index >= 0
        rows = np.zeros((len(users), len(self.items_)))
        rows[known] = self.seen_[index[known]].toarray()
        return rows, known

    def _item_scores(self, rows: FloatArray) -> FloatArray:
        raise NotImplementedError

    def scores(self, users: Sequence[str]) -> FloatArray:
        self._check_fitted()
        rows, known = self._user_rows(users)
        out = self._item_scores(rows)
        out[~known] = self.popularity_
        return out

    def recommend(
        self, users: Sequence[str], k: int = 10, *, exclude_seen: bool = True
    ) -> dict[str, list[str]]:
        self._check_fitted()
        scores = self.scores(users)
        rows, _ = self._user_rows(users)
        if exclude_seen:
            scores = np.where(rows > 0, -np.inf, scores)
        # lexsort: last key first; ties by popularity (desc), then by item order
        order_ties = np.lexsort((np.arange(len(self.items_)), -self.popularity_))
        out: dict[str, list[str]] = {}
        for r, user in enumerate(users):
            ranked = order_ties[np.argsort(-scores[r, order_ties], kind="stable")]
            chosen = [self.items_[j] for j in ranked if np.isfinite(scores[r, j])][:k]
            out[str(user)] = chosen
        return out


class PopularityRecommender(_ImplicitRecommender):
    """The items most users interacted with, the same list for everyone."""

    def __init__(self) -> None:
        pass

    def fit(self, interactions: pd.DataFrame) -> PopularityRecommender:
        self._fit_matrix(interactions)
        return self

    def _item_scores(self, rows: FloatArray) -> FloatArray:
        return np.tile(self.popularity_, (rows.shape[0], 1))


class CooccurrenceRecommender(_ImplicitRecommender):
    """Item-to-item: a user's score for item j is Σ over their items i of sim(i, j).

    ``similarity``: ``"count"`` (users who had both), ``"jaccard"`` (count / users who had
    either; SAR's default) or ``"lift"`` (count / (users(i) × users(j))).
    """

    def __init__(self, *, similarity: str = "jaccard") -> None:
        self.similarity = similarity

    def fit(self, interactions: pd.DataFrame) -> CooccurrenceRecommender:
        if self.similarity not in ("count", "jaccard", "lift"):
            raise ValueError(f"unknown similarity {self.similarity!r}")
        self.similarity_ = item_similarity(
            item_counts(self._fit_matrix(interactions)), self.similarity
        )
        return self

    def _item_scores(self, rows: FloatArray) -> FloatArray:
        return rows @ self.similarity_


class EASERecommender(_ImplicitRecommender):
    """EASE with L2 penalty ``l2`` (λ); see the module docstring for the closed form."""

    def __init__(self, *, l2: float = 500.0) -> None:
        self.l2 = l2

    def fit(self, interactions: pd.DataFrame) -> EASERecommender:
        self.weights_ = ease_weights(item_counts(self._fit_matrix(interactions)), self.l2)
        return self

    def _item_scores(self, rows: FloatArray) -> FloatArray:
        return rows @ self.weights_


def implicit_matrix(
    rows: ArrayLike, columns: ArrayLike, shape: tuple[int, int]
) -> sparse.csr_matrix:
    """The 0/1 matrix with a 1 at every ``(rows[n], columns[n])`` (repeats count once),
    sparse (CSR, float64): a user × item matrix costs its interactions, not users × items."""
    row_index, column_index = np.asarray(rows, np.intp), np.asarray(columns, np.intp)
    matrix = sparse.csr_matrix(
        (np.ones(row_index.size), (row_index, column_index)), shape=shape, dtype=np.float64
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def item_counts(matrix: sparse.csr_matrix) -> FloatArray:
    """``XᵀX`` of the 0/1 user × item matrix ``X``, dense ``(n_items, n_items)``: the users
    who had both items (exact integers, whatever the order of the sums)."""
    return np.asarray((matrix.T @ matrix).toarray(), dtype=np.float64)


def item_similarity(counts: FloatArray, similarity: str = "jaccard") -> FloatArray:
    """The co-occurrence similarity of ``CooccurrenceRecommender`` from ``item_counts``."""
    users = np.diag(counts).copy()
    if similarity == "jaccard":
        union = users[:, None] + users[None, :] - counts
        sim = np.divide(counts, union, out=np.zeros_like(counts), where=union > 0)
    elif similarity == "lift":
        denominator = users[:, None] * users[None, :]
        sim = np.divide(counts, denominator, out=np.zeros_like(counts), where=denominator > 0)
    elif similarity == "count":
        sim = counts.copy()
    else:
        raise ValueError(f"unknown similarity {similarity!r}")
    np.fill_diagonal(sim, 0.0)
    return sim


def ease_weights(gram: FloatArray, l2: float) -> FloatArray:
    """B = I − P·diag(1/diag(P)), P = (G + λI)⁻¹; zero diagonal. ``gram`` is XᵀX."""
    regularised = np.array(gram, dtype=np.float64, copy=True)
    regularised[np.diag_indices_from(regularised)] += l2
    precision = np.linalg.inv(regularised)
    weights = -precision / np.diag(precision)[None, :]
    np.fill_diagonal(weights, 0.0)
    return weights
