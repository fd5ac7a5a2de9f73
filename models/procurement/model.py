"""The procurement risk model as one serialisable object that training and serving share.

A ``RiskModel`` holds, as plain data (JSON plus LightGBM's own model text, no pickle):

* a LightGBM booster on the process features (``features.procurement.specs.FEATURES``), in a
  fixed column order; categorical columns are sent to LightGBM as integer codes of the
  categories seen in training (``categories``): a value not seen in training becomes missing
  (LightGBM routes it like a missing value) and is reported, never silently mapped;
* a calibrator from LightGBM's raw score (log-odds) to a probability: Platt scaling
  (``a · raw + b`` through the logistic function; strictly increasing, the default because the
  calibration slice holds tens of positives) or isotonic regression (thresholds kept as two
  arrays, interpolated); both are non-decreasing in the raw score;
* an unsupervised scorer, an isolation forest fitted on the training months' numeric
  features (labelled or not), kept inside the model as its trees' arrays so that it scores
  with numpy alone; its score is the isolation forest's anomaly score
  ``2 ** (-mean path length / c(max_samples))`` in 0..1 (higher = more anomalous), the number
  shown as ``unsupervised_score`` for processes and data sets without labels;
* warning thresholds on the calibrated probability for the levels red, orange and yellow,
  chosen for a review capacity (``choose_thresholds``).

What the probability means: the probability that an audit of the process would confirm a
finding, learnt from audited processes only (see ``training.procurement_risk``).

Explanations are exact tree SHAP values from LightGBM's ``pred_contrib`` (one thread per
call, as serving scores one request per thread): ``contributions`` returns
``[n, n_features + 1]`` in raw-score (log-odds) units, the last column being the bias
(expected value); each row sums to ``raw_score``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd

from features.procurement.specs import FEATURES
from models.calibration import Calibrator, calibrator_from_dict
from models.calibration import IsotonicCalibrator as IsotonicCalibrator  # re-exported
from models.calibration import PlattCalibrator as PlattCalibrator  # re-exported
from models.calibration import build_calibrator as build_calibrator  # re-exported

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MODEL_FILE = "risk_model.json"
BOOSTER_FILE = "booster.txt"

WARNING_LEVELS: tuple[str, ...] = ("red", "orange", "yellow")
NO_WARNING = "none"
LEVEL_CAPACITY_MULTIPLES: Mapping[str, float] = {"red": 1 / 3, "orange": 1.0, "yellow": 8 / 3}
"""Share of processes per month above each level, as a multiple of the review capacity: with
a capacity of 3 % of processes a month, red is the top 1 %, orange the top 3 % (what the
auditors can review), yellow the top 8 % (watch list)."""

FloatArray = npt.NDArray[np.float64]
Direction = Literal["raises", "lowers"]


class FeatureFrameError(ValueError):
    """A feature frame cannot be scored: a column is missing or holds non-numeric text."""


# --------------------------------------------------------------------------------------------
# Reasons


@dataclass(frozen=True)
class Reason:
    """One SHAP contribution turned into a reason code, in English and Chinese.

    ``contribution`` is in log-odds (raw-score) units; ``value`` is the feature's value as
    given (the category text for categorical features, ``None`` when missing).
    """

    feature: str
    value: float | str | None
    contribution: float
    direction: Direction
    sentence_en: str
    sentence_zh: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _display_value(value: Any) -> float | str | None:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, str):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return None if math.isnan(number) else number


def _is_missing(value: Any) -> bool:
    """Missing as ``Series.dropna`` sees a scalar: None, NaN, pd.NA, NaT."""
    if value is None or isinstance(value, str):
        return value is None
    if isinstance(value, float):
        return math.isnan(value)
    missing = pd.isna(value)
    return isinstance(missing, bool | np.bool_) and bool(missing)


def reason_sentences(feature: str, value: float | str | None) -> tuple[str, str]:
    """(English, Chinese) sentence for one feature value, from the feature's spec template."""
    spec = FEATURES.get(feature)
    if spec is None:
        text = f"{feature}: {value}"
        return text, text
    try:
        return spec.sentence(value, "en"), spec.sentence(value, "zh")
    except (KeyError, IndexError, ValueError, TypeError):  # a template that does not fit
        return f"{spec.description_en}: {value}", f"{spec.description_zh}: {value}"


# --------------------------------------------------------------------------------------------
# Unsupervised score


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
"""Up to this many rows the packed walk is used (a request: about 0.1 ms instead of 5 ms for
100 trees); beyond, the per-tree walk, faster on large batches."""


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

    def __init__(self, *, n_estimators: int = 100, max_samples: int = 256, seed: int = 0) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.seed = seed
        self.columns_: list[int] | None = None
        self.medians_: FloatArray | None = None
        self.max_samples_: int | None = None
        self.trees_: list[dict[str, np.ndarray]] | None = None
        self._packed_cache: _PackedForest | None = None

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
        assert trees is not None
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
        if self.trees_ is None or self.columns_ is None or self.medians_ is None:
            raise RuntimeError("IsolationScorer is not fitted")
        if np.asarray(matrix).shape[0] <= _PACKED_MAX_ROWS:
            return self._score_packed(matrix)
        return self._score_per_tree(matrix)

    def _score_packed(self, matrix: FloatArray) -> FloatArray:
        """All trees walked at once, one level per step, on the packed arrays; the path
        lengths summed tree by tree in tree order, as ``_score_per_tree`` does."""
        assert self.trees_ is not None
        assert self.columns_ is not None
        assert self.medians_ is not None
        assert self.max_samples_ is not None
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
        assert self.trees_ is not None
        assert self.columns_ is not None
        assert self.medians_ is not None
        assert self.max_samples_ is not None
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
        assert self.trees_ is not None
        assert self.medians_ is not None
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


# --------------------------------------------------------------------------------------------
# Warning thresholds


def choose_thresholds(
    probability: npt.ArrayLike, months: npt.ArrayLike, *, review_capacity: float
) -> dict[str, float]:
    """Thresholds on the calibrated probability for red, orange and yellow.

    For each level the share ``review_capacity × LEVEL_CAPACITY_MULTIPLES[level]`` of the
    processes of each month (all processes, labelled or not) lies at or above the threshold;
    the threshold is the mean over ``months`` of the per-month quantiles. Thresholds are made
    non-increasing from red to yellow.
    """
    if not 0 < review_capacity < 1:
        raise ValueError("review_capacity is a share of processes, between 0 and 1")
    scores = pd.Series(np.asarray(probability, dtype=float))
    by_month = scores.groupby(np.asarray(months))
    thresholds: dict[str, float] = {}
    previous = math.inf
    for level in WARNING_LEVELS:
        share = min(1.0, review_capacity * LEVEL_CAPACITY_MULTIPLES[level])
        per_month = by_month.quantile(1.0 - share, interpolation="higher")
        value = min(float(per_month.mean()), previous)
        thresholds[level] = value
        previous = value
    return thresholds


# --------------------------------------------------------------------------------------------
# The model


class FeatureEncoder:
    """Turns a feature frame into what the models read: the columns in training order,
    numeric as float64, categorical as the codes of the categories seen in training.

    A categorical value not seen in training becomes missing (LightGBM sends it the way of
    missing values), is logged as a warning and is listed by ``unseen_categories``: pandas
    string columns are never matched to training categories by position.
    """

    def __init__(
        self, *, feature_names: Sequence[str], categories: Mapping[str, Sequence[str]]
    ) -> None:
        self.feature_names = list(feature_names)
        self.categories = {column: list(values) for column, values in categories.items()}
        unknown = set(self.categories) - set(self.feature_names)
        if unknown:
            raise ValueError(f"categorical columns not among the features: {sorted(unknown)}")
        self._category_index = {
            column: {value: code for code, value in enumerate(values)}
            for column, values in self.categories.items()
        }
        self._numeric_positions = [
            j for j, name in enumerate(self.feature_names) if name not in self.categories
        ]
        self._categorical_positions = [
            (j, self._category_index[name])
            for j, name in enumerate(self.feature_names)
            if name in self.categories
        ]

    def _check_columns(self, frame: pd.DataFrame) -> None:
        missing = [name for name in self.feature_names if name not in frame.columns]
        if missing:
            raise FeatureFrameError(f"feature frame lacks column(s) {missing}")

    def unseen_categories(self, frame: pd.DataFrame) -> dict[str, list[str]]:
        """Values of categorical columns not seen in training (scored as missing)."""
        self._check_columns(frame)
        unseen: dict[str, list[str]] = {}
        for column, index in self._category_index.items():
            values = frame[column].dropna().astype(str)
            new = sorted(set(values) - set(index))
            if new:
                unseen[column] = new
        return unseen

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The feature columns in training order: numeric as float64, categorical as pandas
        categories with exactly the training categories (an unseen value becomes missing and
        is logged as a warning; ``unseen_categories`` lists them)."""
        self._check_columns(frame)
        unseen = self.unseen_categories(frame)
        if unseen:
            log.warning("categories not seen in training, scored as missing: %s", unseen)
        columns: dict[str, pd.Series] = {}
        for name in self.feature_names:
            values = frame[name]
            if name in self.categories:
                text = values.astype("string")
                columns[name] = pd.Series(
                    pd.Categorical(text, categories=self.categories[name]), index=frame.index
                )
            else:
                try:
                    columns[name] = values.astype("float64")
                except (TypeError, ValueError) as error:
                    raise FeatureFrameError(f"feature {name!r} is not numeric: {error}") from error
        return pd.DataFrame(columns, index=frame.index)

    def _check_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        for i, row in enumerate(rows):
            missing = [name for name in self.feature_names if name not in row]
            if missing:
                raise FeatureFrameError(f"feature row {i} lacks key(s) {missing}")

    def unseen_categories_of_rows(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
        """``unseen_categories`` of the frame these rows would make (``feature_frame``)."""
        self._check_rows(rows)
        unseen: dict[str, list[str]] = {}
        for column, index in self._category_index.items():
            values = {str(row[column]) for row in rows if not _is_missing(row[column])}
            new = sorted(values - set(index))
            if new:
                unseen[column] = new
        return unseen

    def matrix_from_rows(self, rows: Sequence[Mapping[str, Any]]) -> FloatArray:
        """``matrix(feature_frame(rows))`` straight from ``process_features`` dicts, without
        pandas: numeric values converted by numpy as ``feature_frame`` does, categorical
        values looked up in the training categories (missing or unseen: NaN). Cheap for one
        row or a few; for many rows the frame path is as fast."""
        self._check_rows(rows)
        unseen = self.unseen_categories_of_rows(rows)
        if unseen:
            log.warning("categories not seen in training, scored as missing: %s", unseen)
        out = np.empty((len(rows), len(self.feature_names)), dtype=float)
        numeric = self._numeric_positions
        if numeric:
            try:
                values = np.array(
                    [[row[self.feature_names[j]] for j in numeric] for row in rows],
                    dtype=np.float64,
                ).reshape(len(rows), len(numeric))
            except (TypeError, ValueError) as error:
                raise FeatureFrameError(f"a numeric feature is not numeric: {error}") from error
            out[:, numeric] = values
        for j, index in self._categorical_positions:
            name = self.feature_names[j]
            for i, row in enumerate(rows):
                value = row[name]
                out[i, j] = math.nan if _is_missing(value) else index.get(str(value), math.nan)
        return out

    def matrix(self, frame: pd.DataFrame) -> FloatArray:
        """``[n, n_features]`` float64, categorical columns as their training codes (NaN for
        missing or unseen): what the booster and the isolation forest read."""
        prepared = self.prepare(frame)
        out = np.empty((len(prepared), len(self.feature_names)), dtype=float)
        for j, name in enumerate(self.feature_names):
            column = prepared[name]
            if name in self.categories:
                codes = column.cat.codes.to_numpy(dtype=float)
                codes[codes < 0] = np.nan
                out[:, j] = codes
            else:
                out[:, j] = column.to_numpy(dtype=float, na_value=np.nan)
        return out


@dataclass(frozen=True)
class RiskAssessment:
    """Everything scored for a frame of n processes, computed from one feature matrix."""

    raw_score: FloatArray  # [n], log-odds
    probability: FloatArray  # [n], calibrated
    warning_level: npt.NDArray[np.str_]  # [n]
    unsupervised_score: FloatArray  # [n], 0..1 (NaN without a scorer)
    contributions: FloatArray  # [n, n_features + 1], last column the bias
    reasons: list[list[Reason]]  # [n][<= k]
    unseen_categories: dict[str, list[str]]


class RiskModel:
    """The fitted procurement risk model (see the module docstring). Build it with
    ``training.procurement_risk`` or ``RiskModel.load``; it does not train itself."""

    def __init__(
        self,
        *,
        booster: lgb.Booster,
        feature_names: Sequence[str],
        categories: Mapping[str, Sequence[str]],
        calibrator: Calibrator,
        thresholds: Mapping[str, float],
        anomaly: IsolationScorer | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.booster = booster
        self.feature_names = list(feature_names)
        self.categories = {column: list(values) for column, values in categories.items()}
        self.calibrator = calibrator
        self.thresholds = {level: float(thresholds[level]) for level in WARNING_LEVELS}
        self.anomaly = anomaly
        self.metadata = dict(metadata or {})
        self.encoder = FeatureEncoder(feature_names=self.feature_names, categories=self.categories)
        if booster.feature_name() != self.feature_names:
            raise ValueError("the booster's feature names differ from feature_names")

    # ---- input ------------------------------------------------------------------------------

    def unseen_categories(self, frame: pd.DataFrame) -> dict[str, list[str]]:
        """Values of categorical columns not seen in training (scored as missing)."""
        return self.encoder.unseen_categories(frame)

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The features in training order with training dtypes (``FeatureEncoder.prepare``)."""
        return self.encoder.prepare(frame)

    def matrix(self, frame: pd.DataFrame) -> FloatArray:
        """What the booster and the isolation forest read (``FeatureEncoder.matrix``)."""
        return self.encoder.matrix(frame)

    # ---- scores -----------------------------------------------------------------------------

    def raw_score_matrix(self, matrix: FloatArray) -> FloatArray:
        return np.asarray(self.booster.predict(matrix, raw_score=True, num_threads=1), dtype=float)

    def contributions_matrix(self, matrix: FloatArray) -> FloatArray:
        contributions = self.booster.predict(matrix, pred_contrib=True, num_threads=1)
        return np.asarray(contributions, dtype=float)

    def raw_score(self, frame: pd.DataFrame) -> FloatArray:
        """LightGBM's raw score (log-odds), ``[n]``."""
        return self.raw_score_matrix(self.matrix(frame))

    def predict_proba(self, frame: pd.DataFrame) -> FloatArray:
        """Calibrated probability of a confirmed finding, ``[n]``."""
        return self.calibrator.transform(self.raw_score(frame))

    def unsupervised_score(self, frame: pd.DataFrame) -> FloatArray:
        """Isolation-forest anomaly score in 0..1, ``[n]`` (NaN if the model has no scorer)."""
        return self.unsupervised_score_matrix(self.matrix(frame))

    def unsupervised_score_matrix(self, matrix: FloatArray) -> FloatArray:
        if self.anomaly is None:
            return np.full(matrix.shape[0], np.nan)
        return self.anomaly.score(matrix)

    def contributions(self, frame: pd.DataFrame) -> FloatArray:
        """Exact tree SHAP values, ``[n, n_features + 1]``; last column the bias; rows sum to
        ``raw_score``."""
        return self.contributions_matrix(self.matrix(frame))

    def warning_level(self, probability: npt.ArrayLike) -> npt.NDArray[np.str_]:
        """'red', 'orange', 'yellow' or 'none' per probability."""
        p = np.asarray(probability, dtype=float)
        levels = np.full(p.shape, NO_WARNING, dtype="<U6")
        for level in reversed(WARNING_LEVELS):  # yellow, then orange, then red overwrite
            levels[p >= self.thresholds[level]] = level
        return levels

    # ---- reasons ----------------------------------------------------------------------------

    def reasons_from_contributions(
        self, frame: pd.DataFrame, contributions: FloatArray, *, k: int = 5
    ) -> list[list[Reason]]:
        """The k largest contributions (by absolute value, zeros left out) of each row."""
        values = frame[self.feature_names].to_numpy(dtype=object)
        return self._reasons(values, contributions, k=k)

    def _reasons(
        self, values: npt.NDArray[np.object_], contributions: FloatArray, *, k: int
    ) -> list[list[Reason]]:
        """Reasons from the feature values as given (``[n, n_features]`` objects)."""
        per_feature = contributions[:, : len(self.feature_names)]
        order = np.argsort(-np.abs(per_feature), axis=1, kind="stable")[:, :k]
        out: list[list[Reason]] = []
        for i in range(per_feature.shape[0]):
            row: list[Reason] = []
            for j in order[i]:
                contribution = float(per_feature[i, j])
                if contribution == 0.0:
                    continue
                name = self.feature_names[j]
                value = _display_value(values[i, j])
                sentence_en, sentence_zh = reason_sentences(name, value)
                row.append(
                    Reason(
                        feature=name,
                        value=value,
                        contribution=contribution,
                        direction="raises" if contribution > 0 else "lowers",
                        sentence_en=sentence_en,
                        sentence_zh=sentence_zh,
                    )
                )
            out.append(row)
        return out

    def top_reasons(self, frame: pd.DataFrame, k: int = 5) -> list[list[Reason]]:
        """Per row, up to k reasons, largest absolute SHAP contribution first."""
        return self.reasons_from_contributions(frame, self.contributions(frame), k=k)

    def assess(self, frame: pd.DataFrame, *, k: int = 5) -> RiskAssessment:
        """Probability, level, unsupervised score, contributions and reasons in one pass."""
        matrix = self.matrix(frame)
        values = frame[self.feature_names].to_numpy(dtype=object)
        return self._assess(matrix, values, self.unseen_categories(frame), k=k)

    def assess_rows(self, rows: Sequence[Mapping[str, Any]], *, k: int = 5) -> RiskAssessment:
        """``assess(feature_frame(rows))`` from ``process_features`` dicts without building a
        frame: the same numbers, levels and reasons, in about a millisecond for one row (what
        the API scores a request with)."""
        matrix = self.encoder.matrix_from_rows(rows)
        # the values a frame would hold: numbers as float64 (as in the matrix), categories as given
        values = matrix.astype(object)
        for j, _ in self.encoder._categorical_positions:
            name = self.feature_names[j]
            for i, row in enumerate(rows):
                values[i, j] = row[name]
        return self._assess(matrix, values, self.encoder.unseen_categories_of_rows(rows), k=k)

    def _assess(
        self,
        matrix: FloatArray,
        values: npt.NDArray[np.object_],
        unseen: dict[str, list[str]],
        *,
        k: int,
    ) -> RiskAssessment:
        contributions = self.contributions_matrix(matrix)
        raw = contributions.sum(axis=1)
        probability = self.calibrator.transform(raw)
        return RiskAssessment(
            raw_score=raw,
            probability=probability,
            warning_level=self.warning_level(probability),
            unsupervised_score=self.unsupervised_score_matrix(matrix),
            contributions=contributions,
            reasons=self._reasons(values, contributions, k=k),
            unseen_categories=unseen,
        )

    # ---- persistence ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready data; the booster as LightGBM's model text."""
        return {
            "format_version": FORMAT_VERSION,
            "feature_names": self.feature_names,
            "categories": self.categories,
            "calibrator": self.calibrator.to_dict(),
            "thresholds": self.thresholds,
            "anomaly": self.anomaly.to_dict() if self.anomaly is not None else None,
            "metadata": self.metadata,
            "booster": self.booster.model_to_string(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RiskModel:
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported risk model format {data.get('format_version')!r}")
        return cls(
            booster=lgb.Booster(model_str=data["booster"]),
            feature_names=data["feature_names"],
            categories=data["categories"],
            calibrator=calibrator_from_dict(data["calibrator"]),
            thresholds=data["thresholds"],
            anomaly=IsolationScorer.from_dict(data["anomaly"]) if data["anomaly"] else None,
            metadata=data.get("metadata") or {},
        )

    def save(self, directory: Path) -> Path:
        """Write ``risk_model.json`` and ``booster.txt`` (LightGBM's text) into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        data = self.to_dict()
        (directory / BOOSTER_FILE).write_text(data.pop("booster"), encoding="utf-8")
        (directory / MODEL_FILE).write_text(
            json.dumps(data, ensure_ascii=False, allow_nan=False), encoding="utf-8"
        )
        return directory

    @classmethod
    def load(cls, directory: Path) -> RiskModel:
        directory = Path(directory)
        data = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
        data["booster"] = (directory / BOOSTER_FILE).read_text(encoding="utf-8")
        return cls.from_dict(data)
