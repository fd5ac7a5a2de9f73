"""The supplier ESG risk model shared by training and serving: LightGBM with monotone
constraints, a calibrator, bands, actions, pillar scores and explained reasons.

**The score is a probability in percent.** ``score = 100 × P(serious ESG incident in the next
12 months)``, the probability calibrated (Platt) on a later snapshot than the trees were
trained on (``training.supplier_esg``). A serious incident: a production-safety accident, a
listing (safety blacklist, debarment, court defaulter, serious-violation or major
tax-violation list), a serious or major environmental penalty, or a bribery finding. Because
the score is a calibrated probability and the band edges are fixed probabilities, a band means
the same across retrains:

========== ============ =====================================================================
band       score        action
========== ============ =====================================================================
negligible under 10     ``approve`` (``approve_green_preferred`` with positive environmental
                        evidence: a valid, documented ISO 14001 or environmental label and no
                        environmental penalty in 36 months)
low        10 to 20     as negligible
medium     20 to 30     ``approve_monitor_yearly``
high       30 to 40     ``corrective_plan_90d_onsite_audit``
severe     40 and over  ``reject_or_escalate``
unknown    (any)        ``manual_review``: nothing is known before the date (no event, no
                        certificate claimed, no delivery); never scored as safe
========== ============ =====================================================================

Knock-outs (``features.esg.knockouts``) come before the model; this module does not apply them.

**Pillar scores** (E, S, G, each 0–100): ``100 × calibrate(bias + Σ contributions of the
pillar's features)``, with the exact tree SHAP contributions (``pred_contrib``,
``num_threads=1``) and ``bias`` the model's expected raw score. It reads as "the score this
supplier would get if only its evidence in this pillar differed from the average supplier":
on the same probability scale as the score, so a pillar at 35 is a pillar in the high band.
Performance features (deliveries, rejections) count in the score but in no pillar.

Reasons: the k largest absolute contributions (log-odds), each with the feature's value,
sentences in English and Chinese, the evidence behind it (document reference and date, when
the caller passes the ``SupplierHistory``) and what would improve it. Contributions plus the
bias sum to the raw score (tested).

Two entries, one path: ``assess`` takes a ``supplier_features`` frame (training, batch, the
reference) and scores its rows as dicts; ``assess_rows`` takes the ``supplier_rows`` dicts
themselves and builds no frame (the service's path for one or a few suppliers).

Saved as ``esg_model.json`` (everything but the trees) and ``booster.txt`` (LightGBM text).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd

from features.esg.specs import (
    AS_OF,
    FEATURES,
    HAS_ANY_HISTORY,
    MODEL_FEATURES,
    PILLARS,
    SUPPLIER_ID,
)
from models.calibration import Calibrator, calibrator_from_dict

if TYPE_CHECKING:
    from features.esg.history import SupplierHistory

FloatArray = npt.NDArray[np.float64]
FORMAT_VERSION = 1
MODEL_FILE = "esg_model.json"
BOOSTER_FILE = "booster.txt"

UNKNOWN = "unknown"
BANDS: tuple[tuple[str, float], ...] = (
    ("negligible", 0.0),
    ("low", 10.0),
    ("medium", 20.0),
    ("high", 30.0),
    ("severe", 40.0),
)
"""(band, lowest score in it), scores being probabilities in percent."""
BAND_NAMES: tuple[str, ...] = tuple(name for name, _ in BANDS)
ACTIONS: dict[str, str] = {
    "negligible": "approve",
    "low": "approve",
    "medium": "approve_monitor_yearly",
    "high": "corrective_plan_90d_onsite_audit",
    "severe": "reject_or_escalate",
    UNKNOWN: "manual_review",
}
GREEN_PREFERRED = "approve_green_preferred"
ACTION_TEXTS: dict[str, tuple[str, str]] = {
    "approve": ("eligible", "准入"),
    GREEN_PREFERRED: ("eligible, green-preferred", "准入，绿色优先"),
    "approve_monitor_yearly": ("approve and monitor yearly", "准入并每年复评"),
    "corrective_plan_90d_onsite_audit": (
        "corrective plan within 90 days and an on-site audit",
        "90天内提交整改计划并接受现场审核",
    ),
    "reject_or_escalate": ("reject or escalate", "拒绝或上报决策"),
    "manual_review": ("manual review: nothing is known", "人工审核：无任何记录"),
}


class FeatureFrameError(ValueError):
    """A feature frame cannot be scored: a model input column is missing or not numeric."""


def band_of(score: float) -> str:
    """The band of a score (a probability in percent)."""
    name = BAND_NAMES[0]
    for band, lowest in BANDS:
        if score >= lowest:
            name = band
    return name


def environmental_evidence_positive(row: Mapping[str, Any]) -> bool:
    """A valid documented ISO 14001 or environmental label, and no penalty in 36 months."""

    def value(name: str) -> float:
        number = float(row.get(name, math.nan))
        return 0.0 if math.isnan(number) else number

    certified = value("iso14001_valid") > 0 or value("green_label_valid") > 0
    return certified and value("env_penalty_count_36m") == 0


def action_for(band: str, row: Mapping[str, Any]) -> str:
    action = ACTIONS[band]
    if action == "approve" and environmental_evidence_positive(row):
        return GREEN_PREFERRED
    return action


@dataclass(frozen=True)
class EsgReason:
    """One SHAP contribution (log-odds) made readable, with its evidence and a remedy."""

    feature: str
    value: float | None
    contribution: float
    direction: str  # "raises" or "lowers"
    sentence_en: str
    sentence_zh: str
    evidence: str | None
    evidence_date: date | None
    improvement_en: str
    improvement_zh: str

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["evidence_date"] = (
            None if self.evidence_date is None else self.evidence_date.isoformat()
        )
        return out


@dataclass(frozen=True)
class EsgAssessment:
    """The model's verdict on one supplier (knock-outs are separate)."""

    supplier_id: str
    as_of: date | None
    score: float  # 100 × calibrated probability, 0..100
    probability: float
    raw_score: float  # log-odds, = sum of contributions + bias
    band: str  # a BAND_NAMES value or "unknown"
    action: str
    action_en: str
    action_zh: str
    pillars: dict[str, float]  # E, S, G, each 0..100 (see the module docstring)
    reasons: list[EsgReason] = field(default_factory=list)
    unknown: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "supplier_id": self.supplier_id,
            "as_of": None if self.as_of is None else self.as_of.isoformat(),
            "score": self.score,
            "probability": self.probability,
            "raw_score": self.raw_score,
            "band": self.band,
            "action": self.action,
            "action_en": self.action_en,
            "action_zh": self.action_zh,
            "pillars": dict(self.pillars),
            "reasons": [reason.as_dict() for reason in self.reasons],
            "unknown": self.unknown,
        }


def _as_date(value: Any) -> date | None:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return pd.Timestamp(value).date()
    except (TypeError, ValueError):
        return None


def _known(value: Any) -> bool:
    """``has_any_history`` read as ``EsgModel.known`` reads the column (missing: not known)."""
    number = _number(value)
    return number is not None and number > 0


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


class EsgModel:
    """The fitted ESG model (see the module docstring). Built by ``training.supplier_esg`` or
    ``EsgModel.load``; it does not train itself."""

    def __init__(
        self,
        *,
        booster: lgb.Booster,
        calibrator: Calibrator,
        feature_names: Sequence[str] = tuple(MODEL_FEATURES),
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.booster = booster
        self.calibrator = calibrator
        self.feature_names = list(feature_names)
        self.metadata = dict(metadata or {})
        if booster.feature_name() != self.feature_names:
            raise ValueError("the booster's feature names differ from feature_names")
        self._pillar_columns = {
            pillar: [j for j, n in enumerate(self.feature_names) if FEATURES[n].pillar == pillar]
            for pillar in PILLARS
        }

    # ---- scores -----------------------------------------------------------------------------

    def matrix(self, frame: pd.DataFrame) -> FloatArray:
        """``[n, n_features]`` float64 of the model's inputs, in training order."""
        missing = [name for name in self.feature_names if name not in frame.columns]
        if missing:
            raise FeatureFrameError(f"feature frame lacks column(s) {missing}")
        try:
            return frame[self.feature_names].to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError) as error:
            raise FeatureFrameError(f"a model input is not numeric: {error}") from error

    def matrix_from_rows(self, rows: Sequence[Mapping[str, Any]]) -> FloatArray:
        """``matrix(supplier_features frame)`` straight from ``supplier_rows`` dicts, without
        pandas (the same float64 values; a missing key or a value that is not a number is a
        ``FeatureFrameError`` as for the frame)."""
        for i, row in enumerate(rows):
            missing = [name for name in self.feature_names if name not in row]
            if missing:
                raise FeatureFrameError(f"feature row {i} lacks key(s) {missing}")
        try:
            values = np.array(
                [[row[name] for name in self.feature_names] for row in rows], dtype=np.float64
            )
        except (TypeError, ValueError) as error:
            raise FeatureFrameError(f"a model input is not numeric: {error}") from error
        return values.reshape(len(rows), len(self.feature_names))

    def raw_score_matrix(self, matrix: FloatArray) -> FloatArray:
        return np.asarray(self.booster.predict(matrix, raw_score=True, num_threads=1), dtype=float)

    def contributions_matrix(self, matrix: FloatArray) -> FloatArray:
        """Exact tree SHAP, ``[n, n_features + 1]``, last column the bias; rows sum to the raw
        score."""
        values = self.booster.predict(matrix, pred_contrib=True, num_threads=1)
        return np.asarray(values, dtype=float)

    def predict_proba(self, frame: pd.DataFrame) -> FloatArray:
        """Calibrated probability of a serious incident in the next 12 months, ``[n]``."""
        return self.calibrator.transform(self.raw_score_matrix(self.matrix(frame)))

    def score(self, frame: pd.DataFrame) -> FloatArray:
        """``100 × predict_proba``: the ESG risk score (a probability in percent), ``[n]``."""
        return 100.0 * self.predict_proba(frame)

    def bands(self, frame: pd.DataFrame, scores: FloatArray | None = None) -> list[str]:
        """Band per row; ``unknown`` where nothing is known (``has_any_history == 0``)."""
        values = self.score(frame) if scores is None else scores
        known = self.known(frame)
        return [band_of(s) if k else UNKNOWN for s, k in zip(values, known, strict=True)]

    @staticmethod
    def known(frame: pd.DataFrame) -> npt.NDArray[np.bool_]:
        """False where the coverage indicator says nothing is known (or it is absent)."""
        if HAS_ANY_HISTORY not in frame.columns:
            return np.zeros(len(frame), dtype=bool)
        return np.array([_known(value) for value in frame[HAS_ANY_HISTORY].tolist()], dtype=bool)

    def pillar_scores(self, contributions: FloatArray) -> dict[str, FloatArray]:
        """Per pillar, ``100 × calibrate(bias + Σ pillar contributions)``, ``[n]`` each."""
        bias = contributions[:, -1]
        return {
            pillar: 100.0 * self.calibrator.transform(bias + contributions[:, columns].sum(axis=1))
            for pillar, columns in self._pillar_columns.items()
        }

    # ---- explanations -----------------------------------------------------------------------

    def assess(
        self,
        frame: pd.DataFrame,
        k: int = 5,
        *,
        history: SupplierHistory | None = None,
    ) -> list[EsgAssessment]:
        """Score, band, action, pillars and up to ``k`` reasons per row of ``frame`` (a
        ``features.esg.build.supplier_features`` frame). With ``history``, each reason carries
        the evidence (document reference) and date behind its feature.

        The frame's rows are scored as ``assess_rows`` scores dicts (one code path); a frame
        without ``supplier_id`` names its suppliers by its index."""
        records = [
            {str(key): value for key, value in record.items()}
            for record in frame.to_dict(orient="records")
        ]
        ids = None if SUPPLIER_ID in frame.columns else [str(i) for i in frame.index]
        return self._assess(records, ids, k=k, history=history)

    def assess_rows(
        self,
        rows: Sequence[Mapping[str, Any]],
        k: int = 5,
        *,
        history: SupplierHistory | None = None,
    ) -> list[EsgAssessment]:
        """``assess(supplier_features(...))`` from ``features.esg.build.supplier_rows`` dicts,
        without building a frame: what a request of one or a few suppliers is scored with."""
        return self._assess(rows, None, k=k, history=history)

    def _assess(
        self,
        records: Sequence[Mapping[str, Any]],
        ids: Sequence[str] | None,
        *,
        k: int,
        history: SupplierHistory | None,
    ) -> list[EsgAssessment]:
        """Both entries' work: ``ids`` None names each record by its ``supplier_id`` (or its
        position, without one)."""
        from features.esg.build import feature_evidence

        matrix = self.matrix_from_rows(records)
        if ids is None:
            ids = [
                str(row[SUPPLIER_ID]) if SUPPLIER_ID in row else str(i)
                for i, row in enumerate(records)
            ]
        dates = [row.get(AS_OF) for row in records]
        known = np.array([_known(row.get(HAS_ANY_HISTORY)) for row in records], dtype=bool)
        contributions = self.contributions_matrix(matrix)
        raw = contributions.sum(axis=1)
        probability = self.calibrator.transform(raw)
        scores = 100.0 * probability
        pillars = self.pillar_scores(contributions)
        per_feature = contributions[:, : len(self.feature_names)]
        order = np.argsort(-np.abs(per_feature), axis=1, kind="stable")[:, :k]
        out: list[EsgAssessment] = []
        for i in range(len(records)):
            as_of = _as_date(dates[i])
            reasons: list[EsgReason] = []
            if not known[i]:
                spec = FEATURES[HAS_ANY_HISTORY]
                reasons.append(
                    EsgReason(
                        HAS_ANY_HISTORY, 0.0, 0.0, "unknown",
                        "nothing is known about this supplier before the date (no event, no "
                        "certificate, no delivery): not scored as safe, manual review",
                        "该供应商在当日之前无任何记录（无事件、无证书、无交货）：不视为安全，需人工审核",
                        None, None, spec.improvement_en, spec.improvement_zh,
                    )
                )  # fmt: skip
            for j in order[i]:
                contribution = float(per_feature[i, j])
                if contribution == 0.0 or len(reasons) >= k:
                    continue
                name = self.feature_names[j]
                spec = FEATURES[name]
                value = _number(records[i].get(name))
                evidence, evidence_date = (None, None)
                if history is not None and as_of is not None:
                    evidence, evidence_date = feature_evidence(history, ids[i], as_of, name)
                reasons.append(
                    EsgReason(
                        feature=name,
                        value=value,
                        contribution=contribution,
                        direction="raises" if contribution > 0 else "lowers",
                        sentence_en=spec.sentence(value, "en"),
                        sentence_zh=spec.sentence(value, "zh"),
                        evidence=evidence,
                        evidence_date=evidence_date,
                        improvement_en=spec.improvement_en if contribution > 0 else "",
                        improvement_zh=spec.improvement_zh if contribution > 0 else "",
                    )
                )
            band = band_of(float(scores[i])) if known[i] else UNKNOWN
            action = action_for(band, records[i])
            action_en, action_zh = ACTION_TEXTS[action]
            out.append(
                EsgAssessment(
                    supplier_id=ids[i],
                    as_of=as_of,
                    score=float(scores[i]),
                    probability=float(probability[i]),
                    raw_score=float(raw[i]),
                    band=band,
                    action=action,
                    action_en=action_en,
                    action_zh=action_zh,
                    pillars={p: float(pillars[p][i]) for p in PILLARS},
                    reasons=reasons,
                    unknown=not bool(known[i]),
                )
            )
        return out

    # ---- persistence ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "feature_names": self.feature_names,
            "calibrator": self.calibrator.to_dict(),
            "metadata": self.metadata,
            "booster": self.booster.model_to_string(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EsgModel:
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported ESG model format {data.get('format_version')!r}")
        return cls(
            booster=lgb.Booster(model_str=data["booster"]),
            calibrator=calibrator_from_dict(data["calibrator"]),
            feature_names=data["feature_names"],
            metadata=data.get("metadata") or {},
        )

    def save(self, directory: Path) -> Path:
        """Write ``esg_model.json`` and ``booster.txt`` into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        data = self.to_dict()
        (directory / BOOSTER_FILE).write_text(data.pop("booster"), encoding="utf-8")
        (directory / MODEL_FILE).write_text(
            json.dumps(data, ensure_ascii=False, allow_nan=False, default=str), encoding="utf-8"
        )
        return directory

    @classmethod
    def load(cls, directory: Path) -> EsgModel:
        directory = Path(directory)
        data = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
        data["booster"] = (directory / BOOSTER_FILE).read_text(encoding="utf-8")
        return cls.from_dict(data)
