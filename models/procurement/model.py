"""The procurement risk model as one serialisable object that training and serving share.

A ``RiskModel`` holds, as plain data (JSON plus LightGBM's own model text, no pickle):

* a LightGBM booster on the process features (``features.procurement.specs.FEATURES``), in a
  fixed column order, fed by ``encoding.FeatureEncoder``: categorical columns as integer codes
  of the categories seen in training (``categories``); a value not seen in training becomes
  missing (LightGBM routes it like a missing value) and is reported, never silently mapped;
* a calibrator (``models.calibration``) from LightGBM's raw score (log-odds) to a
  probability: Platt scaling by default, because the calibration slice holds tens of
  positives, or isotonic regression;
* an unsupervised scorer (``anomaly.IsolationScorer``), an isolation forest fitted on the
  training months' numeric features (labelled or not), its score in 0..1 shown as
  ``unsupervised_score`` for processes and data sets without labels;
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
from models.procurement.anomaly import IsolationScorer
from models.procurement.encoding import FeatureEncoder
from models.procurement.encoding import FeatureFrameError as FeatureFrameError  # re-exported

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
        frame: the same numbers, levels and reasons (what the API scores a request with)."""
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
