"""From a feature frame, or the feature dicts of a request, to the matrix the models read.

Both entries end in the same per-column functions: numbers through numpy's float64 conversion,
category values through ``category_codes`` and ``unseen_values``; they differ only in how a
column's values are taken out (a frame's column, or one key of every dict), so a request scored
from its dicts gets the numbers the frame of those dicts would get.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


class FeatureFrameError(ValueError):
    """A feature frame cannot be scored: a column is missing or holds non-numeric text."""


def _is_missing(value: Any) -> bool:
    """Missing as ``Series.dropna`` sees a scalar: None, NaN, pd.NA, NaT."""
    if value is None or isinstance(value, str):
        return value is None
    if isinstance(value, float):
        return math.isnan(value)
    missing = pd.isna(value)
    return isinstance(missing, bool | np.bool_) and bool(missing)


def category_codes(values: Iterable[Any], index: Mapping[str, int]) -> FloatArray:
    """The training code of each value's text; NaN for a missing or unseen value."""
    return np.array(
        [math.nan if _is_missing(value) else index.get(str(value), math.nan) for value in values],
        dtype=np.float64,
    )


def unseen_values(values: Iterable[Any], index: Mapping[str, int]) -> list[str]:
    """The texts of the present values not among the training categories, sorted."""
    return sorted({str(value) for value in values if not _is_missing(value)} - index.keys())


def float_block(values: Any) -> FloatArray:
    """Values (a nested list, an array, a Series) as float64, or a ``FeatureFrameError``."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise FeatureFrameError(f"a numeric feature is not numeric: {error}") from error


ColumnValues = Callable[[str], Sequence[Any]]
"""A column's values by feature name, as a list (a frame's column or one key of each dict)."""


class FeatureEncoder:
    """Turns a feature frame, or ``process_features`` dicts, into what the models read: the
    columns in training order, numeric as float64, categorical as the codes of the categories
    seen in training.

    A categorical value not seen in training becomes missing (LightGBM sends it the way of
    missing values), is logged as a warning and is listed by ``unseen_categories``: values are
    matched to the training categories by their text, never by position.
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

    # ---- the shared steps -------------------------------------------------------------------

    def _unseen(self, column_values: ColumnValues) -> dict[str, list[str]]:
        unseen: dict[str, list[str]] = {}
        for column, index in self._category_index.items():
            new = unseen_values(column_values(column), index)
            if new:
                unseen[column] = new
        return unseen

    def _encode(self, numeric: FloatArray, column_values: ColumnValues) -> FloatArray:
        """The matrix from the numeric block (``[n, n_numeric]``) and the categorical values."""
        unseen = self._unseen(column_values)
        if unseen:
            log.warning("categories not seen in training, scored as missing: %s", unseen)
        out = np.empty((numeric.shape[0], len(self.feature_names)), dtype=float)
        out[:, self._numeric_positions] = numeric
        for j, index in self._categorical_positions:
            out[:, j] = category_codes(column_values(self.feature_names[j]), index)
        return out

    # ---- frames -----------------------------------------------------------------------------

    def _check_columns(self, frame: pd.DataFrame) -> None:
        missing = [name for name in self.feature_names if name not in frame.columns]
        if missing:
            raise FeatureFrameError(f"feature frame lacks column(s) {missing}")

    @staticmethod
    def _frame_values(frame: pd.DataFrame) -> ColumnValues:
        return lambda name: frame[name].tolist()

    def unseen_categories(self, frame: pd.DataFrame) -> dict[str, list[str]]:
        """Values of categorical columns not seen in training (scored as missing)."""
        self._check_columns(frame)
        return self._unseen(self._frame_values(frame))

    def matrix(self, frame: pd.DataFrame) -> FloatArray:
        """``[n, n_features]`` float64, categorical columns as their training codes (NaN for
        missing or unseen): what the booster and the isolation forest read."""
        self._check_columns(frame)
        numeric = np.empty((len(frame), len(self._numeric_positions)), dtype=float)
        for k, j in enumerate(self._numeric_positions):
            column = frame[self.feature_names[j]]
            if column.dtype == object:  # what the dicts held: converted as the dicts are
                numeric[:, k] = float_block(column.tolist())
                continue
            try:
                numeric[:, k] = column.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError) as error:
                raise FeatureFrameError(f"a numeric feature is not numeric: {error}") from error
        return self._encode(numeric, self._frame_values(frame))

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The feature columns in training order, as ``matrix`` encodes them: numeric as
        float64, categorical as pandas categories with exactly the training categories."""
        matrix = self.matrix(frame)
        columns: dict[str, Any] = {}
        for j, name in enumerate(self.feature_names):
            if name in self.categories:
                codes = np.nan_to_num(matrix[:, j], nan=-1.0).astype(np.int64)
                columns[name] = pd.Categorical.from_codes(
                    codes, dtype=pd.CategoricalDtype(self.categories[name])
                )
            else:
                columns[name] = matrix[:, j]
        return pd.DataFrame(columns, index=frame.index)

    # ---- dicts ------------------------------------------------------------------------------

    def _check_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        for i, row in enumerate(rows):
            missing = [name for name in self.feature_names if name not in row]
            if missing:
                raise FeatureFrameError(f"feature row {i} lacks key(s) {missing}")

    @staticmethod
    def _row_values(rows: Sequence[Mapping[str, Any]]) -> ColumnValues:
        return lambda name: [row[name] for row in rows]

    def unseen_categories_of_rows(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
        """``unseen_categories`` of the frame these rows would make (``feature_frame``)."""
        self._check_rows(rows)
        return self._unseen(self._row_values(rows))

    def matrix_from_rows(self, rows: Sequence[Mapping[str, Any]]) -> FloatArray:
        """``matrix(feature_frame(rows))`` straight from ``process_features`` dicts, without
        pandas: what a request of one or a few processes is scored with."""
        self._check_rows(rows)
        names = [self.feature_names[j] for j in self._numeric_positions]
        numeric = float_block([[row[name] for name in names] for row in rows])
        return self._encode(numeric.reshape(len(rows), len(names)), self._row_values(rows))
