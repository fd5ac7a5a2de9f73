"""An isolation forest exported to arrays and scored with numpy alone: the unsupervised score
of the procurement risk model, for processes and data sets without labels.

The score is sklearn's anomaly score ``2 ** (-mean path length / c(max_samples))`` in 0..1
(higher = more anomalous), identical to ``-IsolationForest.score_samples``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from models.calibration import check_is_fitted

FloatArray = npt.NDArray[np.float64]
_LEARNT = ("columns_", "medians_", "max_samples_", "trees_")


def _average_path_length(n_samples: FloatArray) -> FloatArray:
    """c(n): the mean path length of an unsuccessful search in a binary search tree of n
    points (as ``sklearn.ensemble._iforest._average_path_length``)."""
    n = np.asarray(n_samples, dtype=float)
    result = np.zeros_like(n)
    result[n == 2] = 1.0
    big = n > 2
    result[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return result


_SCORE_CHUNK = 128
"""Rows per step of the packed isolation-forest walk (bounds its ``[trees, rows]`` arrays)."""
_PACKED_MAX_ROWS = 256
"""Up to this many rows the packed walk (all trees at once) is used: far cheaper for the few
rows of a request; beyond, the per-tree walk, cheaper on large batches."""


@dataclass(frozen=True)
class _PackedForest:
    """An isolation forest's trees padded to one ``[n_trees, max_nodes]`` array per field
    (padding is never reached: a walk stops at a leaf, ``left == -1``)."""

    source: list[dict[str, np.ndarray]]
    left: npt.NDArray[np.int64]
    right: npt.NDArray[np.int64]
    feature: npt.NDArray[np.int64]
    threshold: FloatArray
    leaf_path: FloatArray  # c(n_node_samples) per node

    @classmethod
    def from_trees(cls, trees: list[dict[str, np.ndarray]]) -> _PackedForest:
        width = max(len(tree["left"]) for tree in trees)

        def pad(key: str, fill: float, dtype: type) -> np.ndarray:
            out: np.ndarray = np.full((len(trees), width), fill, dtype=dtype)
            for t, tree in enumerate(trees):
                out[t, : len(tree[key])] = tree[key]
            return out

        return cls(
            source=trees,
            left=pad("left", -1, np.int64),
            right=pad("right", -1, np.int64),
            feature=np.maximum(pad("feature", 0, np.int64), 0),  # leaves hold -2
            threshold=pad("threshold", 0.0, np.float64),
            leaf_path=_average_path_length(pad("n_node_samples", 1.0, np.float64)),
        )

    def path_length_sum(self, x: FloatArray) -> FloatArray:
        """Per row of ``x`` (imputed, selected columns): the sum over trees, in tree order, of
        the depth reached plus c(leaf size)."""
        n_trees, n_rows = self.left.shape[0], x.shape[0]
        tree = np.arange(n_trees)[:, None]
        row = np.arange(n_rows)[None, :]
        node = np.zeros((n_trees, n_rows), dtype=np.int64)
        depth = np.zeros((n_trees, n_rows))
        while True:
            left = self.left[tree, node]
            active = left != -1
            if not active.any():
                break
            goes_left = x[row, self.feature[tree, node]] <= self.threshold[tree, node]
            node = np.where(active, np.where(goes_left, left, self.right[tree, node]), node)
            depth += active
        per_tree = depth + self.leaf_path[tree, node]
        # axis 0 of a C-ordered [trees, rows] array adds tree after tree, as the per-tree walk
        return np.asarray(np.add.reduce(per_tree, axis=0), dtype=float)


class IsolationScorer:
    """An isolation forest (sklearn ``IsolationForest``) fitted on numeric columns, exported to
    arrays and scored with numpy: identical to sklearn's ``-score_samples``.

    Missing values are replaced by the training medians (``medians_``) before splitting.
    Learnt state: ``columns_`` (indices into the model's feature matrix), ``medians_``,
    ``max_samples_``, ``trees_`` (per tree: left, right, feature, threshold, node sizes).
    """

    columns_: list[int]
    medians_: FloatArray
    max_samples_: int
    trees_: list[dict[str, np.ndarray]]

    def __init__(self, *, n_estimators: int = 100, max_samples: int = 256, seed: int = 0) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.seed = seed
        self._packed_cache: _PackedForest | None = None  # derived from trees_, never saved

    def fit(self, matrix: FloatArray, *, columns: Sequence[int]) -> IsolationScorer:
        from sklearn.ensemble import IsolationForest

        x = np.asarray(matrix, dtype=float)[:, list(columns)]
        medians = np.nanmedian(np.where(np.isfinite(x), x, np.nan), axis=0)
        medians = np.where(np.isnan(medians), 0.0, medians)
        forest = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=min(self.max_samples, x.shape[0]),
            random_state=self.seed,
        ).fit(self._impute(x, medians))
        self.columns_ = [int(c) for c in columns]
        self.medians_ = medians
        self.max_samples_ = int(forest.max_samples_)
        self.trees_ = [
            {
                "left": tree.tree_.children_left.astype(np.int64),
                "right": tree.tree_.children_right.astype(np.int64),
                "feature": tree.tree_.feature.astype(np.int64),
                "threshold": tree.tree_.threshold.astype(float),
                "n_node_samples": tree.tree_.n_node_samples.astype(float),
            }
            for tree in forest.estimators_
        ]
        return self

    @staticmethod
    def _impute(x: FloatArray, medians: FloatArray) -> FloatArray:
        # sklearn trees compare float32 values with their thresholds
        filled = np.where(np.isfinite(x), x, medians)
        return np.asarray(filled.astype(np.float32), dtype=float)

    def _packed(self) -> _PackedForest:
        """The trees as ``[n_trees, max_nodes]`` arrays (built once, rebuilt if ``trees_`` is
        replaced), so that all trees are walked together."""
        trees = self.trees_
        packed = self._packed_cache
        if packed is None or packed.source is not trees:
            packed = _PackedForest.from_trees(trees)
            self._packed_cache = packed
        return packed

    def score(self, matrix: FloatArray) -> FloatArray:
        """Anomaly score in 0..1 per row of the full feature matrix (higher = more unusual).

        A few rows (a request) walk all trees at once (``_score_packed``); many rows walk
        one tree after another (``_score_per_tree``), which is faster there. Both give the
        same numbers, bit for bit."""
        check_is_fitted(self, _LEARNT)
        if np.asarray(matrix).shape[0] <= _PACKED_MAX_ROWS:
            return self._score_packed(matrix)
        return self._score_per_tree(matrix)

    def _score_packed(self, matrix: FloatArray) -> FloatArray:
        """All trees walked at once, one level per step, on the packed arrays; the path
        lengths summed tree by tree in tree order, as ``_score_per_tree`` does."""
        x = self._impute(np.asarray(matrix, dtype=float)[:, self.columns_], self.medians_)
        packed = self._packed()
        depth_sum = np.empty(x.shape[0])
        for start in range(0, x.shape[0], _SCORE_CHUNK):
            stop = min(start + _SCORE_CHUNK, x.shape[0])
            depth_sum[start:stop] = packed.path_length_sum(x[start:stop])
        normaliser = len(self.trees_) * _average_path_length(np.array([self.max_samples_]))[0]
        return np.asarray(2.0 ** (-depth_sum / normaliser), dtype=float)

    def _score_per_tree(self, matrix: FloatArray) -> FloatArray:
        """One tree after another, each walked by all rows together."""
        x = self._impute(np.asarray(matrix, dtype=float)[:, self.columns_], self.medians_)
        rows = np.arange(x.shape[0])
        depth_sum = np.zeros(x.shape[0])
        for tree in self.trees_:
            node = np.zeros(x.shape[0], dtype=np.int64)
            depth = np.zeros(x.shape[0])
            left, right = tree["left"], tree["right"]
            active = left[node] != -1
            while active.any():
                current = node[active]
                goes_left = x[rows[active], tree["feature"][current]] <= tree["threshold"][current]
                node[active] = np.where(goes_left, left[current], right[current])
                depth[active] += 1.0
                active = left[node] != -1
            depth_sum += depth + _average_path_length(tree["n_node_samples"][node])
        normaliser = len(self.trees_) * _average_path_length(np.array([self.max_samples_]))[0]
        return np.asarray(2.0 ** (-depth_sum / normaliser), dtype=float)

    def to_dict(self) -> dict[str, Any]:
        check_is_fitted(self, _LEARNT)
        return {
            "n_estimators": self.n_estimators,
            "max_samples": self.max_samples,
            "seed": self.seed,
            "columns": self.columns_,
            "medians": self.medians_.tolist(),
            "max_samples_": self.max_samples_,
            "trees": [{key: value.tolist() for key, value in tree.items()} for tree in self.trees_],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IsolationScorer:
        scorer = cls(
            n_estimators=int(data["n_estimators"]),
            max_samples=int(data["max_samples"]),
            seed=int(data["seed"]),
        )
        scorer.columns_ = [int(c) for c in data["columns"]]
        scorer.medians_ = np.asarray(data["medians"], dtype=float)
        scorer.max_samples_ = int(data["max_samples_"])
        scorer.trees_ = [
            {
                "left": np.asarray(tree["left"], dtype=np.int64),
                "right": np.asarray(tree["right"], dtype=np.int64),
                "feature": np.asarray(tree["feature"], dtype=np.int64),
                "threshold": np.asarray(tree["threshold"], dtype=float),
                "n_node_samples": np.asarray(tree["n_node_samples"], dtype=float),
            }
            for tree in data["trees"]
        ]
        return scorer
