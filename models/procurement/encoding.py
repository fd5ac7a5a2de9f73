"""From a feature frame, or the feature dicts of a request, to the matrix the models read."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
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
