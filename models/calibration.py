"""Calibrators shared by the models: a map from a booster's raw score (log-odds) to a
probability, learnt on a slice of labelled data held out from the trees.

Both are estimators in scikit-learn's manner (keyword-only ``__init__`` that stores
parameters only, learnt state in attributes ending in ``_``, ``fit`` returns ``self``,
``transform`` checks the calibrator is fitted) and both are non-decreasing in the raw score, so
a calibrated model ranks as its booster does. They are saved as plain data (``to_dict`` /
``calibrator_from_dict``), never pickled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.exceptions import NotFittedError

FloatArray = npt.NDArray[np.float64]


def check_is_fitted(estimator: object, attributes: tuple[str, ...]) -> None:
    """Raise sklearn's ``NotFittedError`` unless ``estimator`` has every learnt attribute named.

    sklearn's own ``check_is_fitted`` needs a ``BaseEstimator`` (its tags) and costs more than
    the transform it guards; a request calls a calibrator up to four times.
    """
    missing = [name for name in attributes if not hasattr(estimator, name)]
    if missing:
        raise NotFittedError(
            f"{type(estimator).__name__} is not fitted (no {', '.join(missing)}): call fit first"
        )


class PlattCalibrator:
    """Probability = logistic(a · raw + b), fitted by (nearly unpenalised) logistic regression
    of the labels on the raw score; the default where the calibration slice holds few
    positives. Learnt state: ``a_`` (a positive slope), ``b_``."""

    kind = "platt"
    a_: float
    b_: float

    def __init__(self, *, max_iter: int = 1000) -> None:
        self.max_iter = max_iter

    def fit(self, raw: npt.ArrayLike, labels: npt.ArrayLike) -> PlattCalibrator:
        from sklearn.linear_model import LogisticRegression

        x = np.asarray(raw, dtype=float).reshape(-1, 1)
        y = np.asarray(labels, dtype=int)
        if np.unique(y).size < 2:
            raise ValueError("calibration needs both classes")
        fitted = LogisticRegression(C=1e6, max_iter=self.max_iter).fit(x, y)
        a, b = float(fitted.coef_[0, 0]), float(fitted.intercept_[0])
        if a <= 0:
            raise ValueError(f"Platt slope {a:.4g} is not positive: the raw score does not rank")
        self.a_, self.b_ = a, b
        return self

    def transform(self, raw: npt.ArrayLike) -> FloatArray:
        check_is_fitted(self, ("a_", "b_"))
        z = self.a_ * np.asarray(raw, dtype=float) + self.b_
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=float)

    def to_dict(self) -> dict[str, Any]:
        check_is_fitted(self, ("a_", "b_"))
        return {"kind": self.kind, "a": self.a_, "b": self.b_}

    @classmethod
    def identity(cls) -> PlattCalibrator:
        """The booster's own probability (a = 1, b = 0): the fallback when calibration fails."""
        calibrator = cls()
        calibrator.a_, calibrator.b_ = 1.0, 0.0
        return calibrator


class IsotonicCalibrator:
    """Non-decreasing step function of the raw score (sklearn ``IsotonicRegression``), kept as
    its thresholds ``x_`` and values ``y_`` and applied by linear interpolation, clipped."""

    kind = "isotonic"
    x_: FloatArray
    y_: FloatArray

    def __init__(self) -> None:
        pass

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
        check_is_fitted(self, ("x_", "y_"))
        return np.asarray(np.interp(np.asarray(raw, dtype=float), self.x_, self.y_), dtype=float)

    def to_dict(self) -> dict[str, Any]:
        check_is_fitted(self, ("x_", "y_"))
        return {"kind": self.kind, "x": self.x_.tolist(), "y": self.y_.tolist()}


Calibrator = PlattCalibrator | IsotonicCalibrator


def calibrator_from_dict(data: Mapping[str, Any]) -> Calibrator:
    """The calibrator ``to_dict`` wrote."""
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
    """An unfitted calibrator by name: ``platt`` or ``isotonic``."""
    if kind == "platt":
        return PlattCalibrator()
    if kind == "isotonic":
        return IsotonicCalibrator()
    raise ValueError(f"calibration must be 'platt' or 'isotonic', not {kind!r}")
