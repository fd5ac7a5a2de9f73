"""The drift reference a model carries, and the population stability index (PSI).

Training bins each model input and the score on reference rows and saves the bins with the
model (``metadata["drift_reference"]``, ``DRIFT_REFERENCE``); the service puts live rows
into the same bins and compares. Both sides import this module, so a value falls in the
same bin in training and in the service.

Bins, JSON-ready (``FeatureBins.to_dict``):

* numeric: ``edges`` are the distinct quantiles of the reference's non-missing values at
  1/n .. (n-1)/n; bin i holds ``edges[i-1] < x <= edges[i]`` (the first is open below, the
  last open above), and a last bin holds the missing values (NaN, None, not a number).
  Integer-valued counts with many zeros get fewer, wider bins (quantiles coincide), never
  empty duplicates.
* categorical: one bin per category seen in the reference, then ``other`` (a category the
  reference never held) and ``missing``.

``proportions`` has one share per bin, summing to 1. PSI between reference shares ``e`` and
live shares ``a`` is ``sum((a - e) * ln(a / e))`` with every share floored at ``EPSILON``
(an empty bin on one side would make it infinite). Rule of thumb: below 0.1 stable, 0.1 to
0.2 a moderate shift, above 0.2 a shift worth a look.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]

DRIFT_REFERENCE = "drift_reference"
FORMAT_VERSION = 1
DEFAULT_BINS = 10
EPSILON = 1e-4
SCORE = "score"
REFERENCE_SEED = 0


def reference_sample(keys: Sequence[Any], *, limit: int, seed: int = REFERENCE_SEED) -> list[Any]:
    """At most ``limit`` of the distinct ``keys``, drawn without replacement by a generator
    seeded with ``seed`` from the keys in sorted order: the same data gives the same sample
    whatever order it was read in (training frames too big to bin whole are binned on it)."""
    distinct = sorted(set(keys), key=str)
    if len(distinct) <= limit:
        return distinct
    chosen = np.random.default_rng(seed).choice(len(distinct), size=limit, replace=False)
    return [distinct[i] for i in sorted(chosen.tolist())]


def psi(expected: npt.ArrayLike, actual: npt.ArrayLike, *, epsilon: float = EPSILON) -> float:
    """PSI between two vectors of bin shares (or counts: each is normalised to sum 1)."""
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.shape != a.shape or e.ndim != 1:
        raise ValueError(f"bin shares of different shapes: {e.shape} and {a.shape}")
    e = np.maximum(e / max(e.sum(), 1e-300), epsilon)
    a = np.maximum(a / max(a.sum(), 1e-300), epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def _as_float(value: Any) -> float:
    """A live value as a number; None, NaN, text and anything else not numeric: NaN."""
    if value is None or isinstance(value, str):
        return math.nan
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


@dataclass(frozen=True)
class FeatureBins:
    """The reference bins of one column (see the module docstring)."""

    kind: str  # "numeric" or "categorical"
    proportions: tuple[float, ...]
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def n_bins(self) -> int:
        return len(self.proportions)

    @classmethod
    def numeric(cls, values: npt.ArrayLike, *, n_bins: int = DEFAULT_BINS) -> FeatureBins:
        x = np.array(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float)
        x[~np.isfinite(x)] = np.nan
        present = x[~np.isnan(x)]
        quantiles = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
        edges = np.unique(np.quantile(present, quantiles)) if len(present) else np.array([])
        bins = cls(kind="numeric", proportions=(), edges=tuple(float(e) for e in edges))
        return bins._with_shares(bins.numeric_bin(x))

    @classmethod
    def categorical(cls, values: Sequence[Any]) -> FeatureBins:
        text = pd.Series(values, dtype=object)
        present = text[text.notna()].astype(str)
        categories = tuple(sorted(present.unique().tolist()))
        bins = cls(kind="categorical", proportions=(), categories=categories)
        return bins._with_shares(bins.categorical_bin(list(values)))

    def _with_shares(self, bin_index: npt.NDArray[np.int64]) -> FeatureBins:
        counts = np.bincount(bin_index, minlength=self.bin_count())
        shares = counts / max(int(counts.sum()), 1)
        return FeatureBins(
            kind=self.kind,
            proportions=tuple(float(s) for s in shares),
            edges=self.edges,
            categories=self.categories,
        )

    def bin_count(self) -> int:
        """Bins including ``missing`` (and ``other`` for a categorical column)."""
        if self.kind == "numeric":
            return len(self.edges) + 2
        return len(self.categories) + 2

    def numeric_bin(self, values: FloatArray) -> npt.NDArray[np.int64]:
        """Bin of each number (NaN: the missing bin, the last)."""
        index = np.searchsorted(np.asarray(self.edges, dtype=float), values, side="left")
        return np.where(np.isnan(values), len(self.edges) + 1, index).astype(np.int64)

    def category_code(self, value: Any) -> float:
        """What a live row stores for a categorical value: its category's position, the
        ``other`` position for an unseen one, NaN when missing."""
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
            return math.nan
        return float(self._category_positions.get(str(value), len(self.categories)))

    @cached_property
    def _category_positions(self) -> dict[str, int]:
        return {category: i for i, category in enumerate(self.categories)}

    def categorical_bin(self, values: Sequence[Any]) -> npt.NDArray[np.int64]:
        codes = np.array([self.category_code(v) for v in values], dtype=float)
        return self.code_bin(codes)

    def code_bin(self, codes: FloatArray) -> npt.NDArray[np.int64]:
        """Bin of each stored code (``category_code``; NaN: missing, the last)."""
        missing = len(self.categories) + 1
        return np.where(np.isnan(codes), missing, np.nan_to_num(codes)).astype(np.int64)

    def encode_column(self, column: pd.Series) -> FloatArray:
        """``encode`` of every value of ``column`` (``[len(column)]``; numeric dtypes without
        a Python loop)."""
        if self.kind == "numeric" and (
            pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)
        ):
            values = column.to_numpy(dtype=float, na_value=np.nan)
            return np.where(np.isfinite(values), values, np.nan)
        return np.array([self.encode(v) for v in column.tolist()], dtype=float)

    def encode(self, value: Any) -> float:
        """One live value as the float a window stores (numbers as such, categories coded)."""
        return self.category_code(value) if self.kind == "categorical" else _as_float(value)

    def live_shares(self, stored: FloatArray) -> FloatArray:
        """Shares per bin of stored values (``encode``'s output), ``[n_bins]``."""
        index = self.code_bin(stored) if self.kind == "categorical" else self.numeric_bin(stored)
        counts = np.bincount(index, minlength=self.bin_count()).astype(float)
        return counts / max(counts.sum(), 1.0)

    def psi_of(self, stored: FloatArray) -> float:
        """PSI of the stored live values against these reference shares."""
        return psi(self.proportions, self.live_shares(stored))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "proportions": list(self.proportions)}
        if self.kind == "numeric":
            out["edges"] = list(self.edges)
        else:
            out["categories"] = list(self.categories)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureBins:
        kind = str(data["kind"])
        if kind not in ("numeric", "categorical"):
            raise ValueError(f"unknown bin kind {kind!r}")
        bins = cls(
            kind=kind,
            proportions=tuple(float(p) for p in data["proportions"]),
            edges=tuple(float(e) for e in data.get("edges", ())),
            categories=tuple(str(c) for c in data.get("categories", ())),
        )
        if bins.n_bins != bins.bin_count():
            raise ValueError(f"{bins.n_bins} shares for {bins.bin_count()} bins")
        return bins


@dataclass(frozen=True)
class DriftReference:
    """The binned reference of every model input and of the score, with where it came from
    (``data_version`` of the training data, ``part`` of it binned, ``rows``)."""

    features: dict[str, FeatureBins]
    score: FeatureBins
    rows: int
    data_version: str | None = None
    part: str | None = None

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        scores: npt.ArrayLike,
        *,
        features: Sequence[str],
        categorical: Sequence[str] = (),
        part: str | None = None,
        n_bins: int = DEFAULT_BINS,
    ) -> DriftReference:
        """Bins of ``features`` (columns of ``frame``; those in ``categorical`` by category)
        and of ``scores`` (``[len(frame)]``, what the service reports as the score)."""
        binned = {
            name: FeatureBins.categorical(frame[name].tolist())
            if name in categorical
            else FeatureBins.numeric(frame[name], n_bins=n_bins)
            for name in features
        }
        return cls(
            features=binned,
            score=FeatureBins.numeric(scores, n_bins=n_bins),
            rows=len(frame),
            part=part,
        )

    def with_data_version(self, data_version: str) -> DriftReference:
        return DriftReference(
            features=self.features,
            score=self.score,
            rows=self.rows,
            data_version=data_version,
            part=self.part,
        )

    @property
    def feature_names(self) -> list[str]:
        return list(self.features)

    def encode_rows(self, rows: Sequence[Mapping[str, Any]]) -> FloatArray:
        """Live feature dicts as ``[n, n_features]`` floats in ``feature_names`` order (a key
        a row lacks counts as missing)."""
        bins = list(self.features.items())
        out = np.empty((len(rows), len(bins)), dtype=float)
        for i, row in enumerate(rows):
            out[i] = [spec.encode(row.get(name)) for name, spec in bins]
        return out

    def encode_frame(self, frame: pd.DataFrame) -> FloatArray:
        """``encode_rows`` of a feature frame's rows, column by column (a column the frame
        lacks counts as missing)."""
        out = np.full((len(frame), len(self.features)), np.nan)
        for j, (name, spec) in enumerate(self.features.items()):
            if name in frame.columns:
                out[:, j] = spec.encode_column(frame[name])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "rows": self.rows,
            "data_version": self.data_version,
            "part": self.part,
            "score": self.score.to_dict(),
            "features": {name: bins.to_dict() for name, bins in self.features.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftReference:
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported drift reference format {data.get('format_version')!r}")
        return cls(
            features={
                str(name): FeatureBins.from_dict(bins) for name, bins in data["features"].items()
            },
            score=FeatureBins.from_dict(data["score"]),
            rows=int(data["rows"]),
            data_version=data.get("data_version"),
            part=data.get("part"),
        )

    @classmethod
    def of_model(cls, metadata: Mapping[str, Any]) -> DriftReference | None:
        """The reference saved in a model's metadata, or None (a model trained before)."""
        data = metadata.get(DRIFT_REFERENCE)
        return None if data is None else cls.from_dict(data)
