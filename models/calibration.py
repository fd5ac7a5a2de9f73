"""Calibrators shared by the models: a map from a booster's raw score (log-odds) to a
probability."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class PlattCalibrator:
    """Probability = logistic(a · raw + b), fitted by (nearly unpenalised) logistic regression
    of the labels on the raw score. Learnt state: ``a_``, ``b_``."""

    kind = "platt"

    def __init__(self) -> None:
        self.a_: float | None = None
        self.b_: float | None = None

    def fit(self, raw: npt.ArrayLike, labels: npt.ArrayLike) -> PlattCalibrator:
        from sklearn.linear_model import LogisticRegression

        x = np.asarray(raw, dtype=float).reshape(-1, 1)
        y = np.asarray(labels, dtype=int)
        if np.unique(y).size < 2:
            raise ValueError("calibration needs both classes")
        fitted = LogisticRegression(C=1e6, max_iter=1000).fit(x, y)
        a, b = float(fitted.coef_[0, 0]), float(fitted.intercept_[0])
        if a <= 0:
            raise ValueError(f"Platt slope {a:.4g} is not positive: the raw score does not rank")
        self.a_, self.b_ = a, b
        return self

    def transform(self, raw: npt.ArrayLike) -> FloatArray:
        if self.a_ is None or self.b_ is None:
            raise RuntimeError("PlattCalibrator is not fitted")
        z = self.a_ * np.asarray(raw, dtype=float) + self.b_
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=float)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "a": self.a_, "b": self.b_}

    @classmethod
    def identity(cls) -> PlattCalibrator:
        """LightGBM's own probability (a = 1, b = 0): the fallback when calibration fails."""
        calibrator = cls()
        calibrator.a_, calibrator.b_ = 1.0, 0.0
        return calibrator


class IsotonicCalibrator:
    """Non-decreasing step function of the raw score (sklearn ``IsotonicRegression``), kept as
    its thresholds ``x_`` and values ``y_`` and applied by linear interpolation, clipped."""

    kind = "isotonic"

    def __init__(self) -> None:
        self.x_: FloatArray | None = None
        self.y_: FloatArray | None = None

    def fit(self, raw: npt.ArrayLike, labels: npt.ArrayLike) -> IsotonicCalibrator:
        from sklearn.isotonic import IsotonicRegression

        y = np.asarray(labels, dtype=float)
        if np.unique(y).size < 2:
            raise ValueError("calibration needs both classes")
        fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        fitted.fit(np.asarray(raw, dtype=float), y)
        self.x_ = np.asarray(fitted.X_thresholds_, dtype=float)
        self.y_ = np.asarray(fitted.y_thresholds_, dtype=float)
        return self

    def transform(self, raw: npt.ArrayLike) -> FloatArray:
        if self.x_ is None or self.y_ is None:
            raise RuntimeError("IsotonicCalibrator is not fitted")
        return np.asarray(np.interp(np.asarray(raw, dtype=float), self.x_, self.y_), dtype=float)

    def to_dict(self) -> dict[str, Any]:
        assert self.x_ is not None
        assert self.y_ is not None
        return {"kind": self.kind, "x": self.x_.tolist(), "y": self.y_.tolist()}


Calibrator = PlattCalibrator | IsotonicCalibrator


def calibrator_from_dict(data: Mapping[str, Any]) -> Calibrator:
    if data["kind"] == "platt":
        platt = PlattCalibrator()
        platt.a_, platt.b_ = float(data["a"]), float(data["b"])
        return platt
    if data["kind"] == "isotonic":
        isotonic = IsotonicCalibrator()
        isotonic.x_ = np.asarray(data["x"], dtype=float)
        isotonic.y_ = np.asarray(data["y"], dtype=float)
        return isotonic
    raise ValueError(f"unknown calibrator {data['kind']!r}")


def build_calibrator(kind: str) -> Calibrator:
    if kind == "platt":
        return PlattCalibrator()
    if kind == "isotonic":
        return IsotonicCalibrator()
    raise ValueError(f"calibration must be 'platt' or 'isotonic', not {kind!r}")
