"""Procurement risk in the service: the champion model and the live history it scores
against, and the scoring of incoming releases. The warnings written as tenders arrive and
the alerts reviewers read are in ``serving.jobs.procurement_alerts``.

Loading (``load_procurement``, called by the lifespan). The tracking URI is
``Settings.resolved_mlflow_tracking_uri`` (``LODESTAR_MLFLOW_TRACKING_URI``, else the SQLite
file in the data folder), set explicitly before MLflow is touched. The champion is resolved
once to a version (``MlflowClient.get_model_version_by_alias``) and that version is loaded,
so the name and version reported are those of the model that answers. A missing registry or
champion does not stop the service: ``/readyz`` names the missing model and the scoring
routes answer 503 ``model_unavailable``. A SQLite registry file that does not exist is not
created.

The history (``ProcurementHistory``) is built from the store at startup and then kept
current through the online layer (``features.online``): ingestion calls
``ProcurementState.push`` with the rows it stored, the history is updated (point in time,
equal to a rebuild), and each new or changed process is scored and, at or above the warning
level, written to ``alerts`` with the model's name and version. Requests read the history's
current immutable view and never wait for a push.

The risk model's ``collusion_score`` feature is the answer of the ``collusion`` version its
training features used (saved in its metadata, ``models.collusion.pyfunc.RISK_METADATA_KEY``):
that version is loaded with it and swapped with it, and ``/readyz`` and ``/metrics`` show it
as the ``collusion`` model. A risk model saved without one computes the CV rule.

Scoring runs in the threadpool (plain ``def`` routes); LightGBM uses one thread per call
(``RiskModel``), so concurrent requests use the cores, not each other's threads.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from features.online.procurement import (
    PROCUREMENT_SOURCE,
    ProcurementPushOutcome,
    ProcurementSource,
)
from features.online.source import OnlineFeatureStore
from features.procurement.build import (
    CARDINAL_FLAG_FEATURES,
    ReleaseError,
    process_features,
    record_from_release,
)
from features.procurement.collusion.point_in_time import COLLUSION_SCORE
from features.procurement.evidence import red_flags_as_of
from features.procurement.feature_settings import (
    FEATURE_SETTINGS_KEY,
    rules_from_feature_settings,
)
from features.procurement.history import (
    HistoryRules,
    ProcessRecord,
    ProcurementHistory,
    load_procurement_frames,
)
from models.collusion.detector import CollusionDetector
from models.collusion.pyfunc import REGISTERED_MODEL as COLLUSION_MODEL
from models.collusion.pyfunc import load_detector, risk_model_collusion_version
from models.procurement.model import RiskAssessment, RiskModel
from serving.api.schemas.common import (
    BoundedDateTime,
    ModelReadiness,
    ModelRef,
    lone_surrogate_paths,
)
from serving.api.schemas.procurement import (
    ItemError,
    ReasonOut,
    RedFlagOut,
    RiskAssessmentOut,
)
from serving.jobs.procurement_alerts import AlertsWritten, LiveWarnings, red_flag_out
from serving.live.drift import record_scored
from serving.live.registry import (
    CHAMPION,
    ModelUnavailableError,
    load_champion_model,
    model_readiness,
)
from serving.platform.errors import ErrorDetail
from serving.runtime import Runtime
from serving.settings import ServiceSettings

logger = logging.getLogger(__name__)

REGISTERED_MODEL = "procurement-risk"  # the name training registers (the registry is the hand-off)
REASONS_SHOWN = 5
INVALID_RELEASE = "invalid_release"
# Requests scoring at once: the work holds the GIL, so more threads than cores only share it
# ever thinner; the rest wait for a slot without holding it, and the live path (a pushed
# file's scoring and alerts) competes with these few threads, not with every open request.
SCORING_SLOTS = 2 * (os.cpu_count() or 1)
_scoring_slots = threading.BoundedSemaphore(SCORING_SLOTS)


# --------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True)
class ProcurementRisk:
    """A loaded model and the live history it scores against, shared by every request.

    ``history`` is the online source's current view: immutable, so take it once per request
    (``assess_releases`` does) and a push landing meanwhile cannot mix two states."""

    model: RiskModel
    name: str
    version: str
    online: ProcurementSource
    rules: HistoryRules | None = None
    collusion: CollusionDetector | None = None
    collusion_version: str | None = None

    @property
    def history(self) -> ProcurementHistory:
        return self.scoring_view(self.online.view())

    def scoring_view(self, history: ProcurementHistory) -> ProcurementHistory:
        """``history`` computing this model's features: with the feature settings the model
        was trained with (``rules``; None: the history's own). The thresholds are read only
        when features are computed, so a shallow copy with other rules is enough."""
        if self.rules is None or history.rules == self.rules:
            return history
        view = copy.copy(history)
        view.rules = self.rules
        return view

    @property
    def model_ref(self) -> ModelRef:
        return ModelRef(name=self.name, version=self.version)

    def with_model(
        self,
        model: RiskModel,
        version: str,
        rules: HistoryRules | None = None,
        collusion: tuple[CollusionDetector | None, str | None] = (None, None),
    ) -> ProcurementRisk:
        """The same live history with another model (a new champion), its feature settings
        and its collusion detector and version."""
        return ProcurementRisk(
            model=model,
            name=self.name,
            version=version,
            online=self.online,
            rules=rules,
            collusion=collusion[0],
            collusion_version=collusion[1],
        )


@dataclass(frozen=True)
class PushSummary:
    """What one push did: the processes it added or replaced, and the warnings written.

    ``push_seconds``: applying the rows to the history; ``push_to_alert_seconds``: from the
    push's start to the alerts committed (None when nothing was scored)."""

    new: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    unchanged: int = 0
    ignored_rows: int = 0
    unrouted_tables: tuple[str, ...] = ()
    push_seconds: float = 0.0
    alerts: AlertsWritten | None = None
    push_to_alert_seconds: float | None = None


@dataclass(frozen=True)
class ProcurementState:
    """The loaded model with its live history, or why there is none.

    ``push(frames)`` is the hook ingestion calls after each store insert (the whole rows of
    the processes it touched, ``load_process_frames``): the history is updated, and each new
    or changed process is scored and, at or above the warning level, written to ``alerts``.
    Pushes run one at a time (``push_lock``); requests read the history's current view and
    never wait for a push."""

    risk: ProcurementRisk | None = None
    unavailable_reason: str | None = None
    online: OnlineFeatureStore | None = None
    warnings: LiveWarnings | None = None
    push_lock: threading.Lock = field(default_factory=threading.Lock, compare=False)

    def readiness(self) -> ModelReadiness:
        version = self.risk.version if self.risk is not None else None
        return model_readiness(REGISTERED_MODEL, version, self.unavailable_reason)

    def collusion_readiness(self) -> ModelReadiness:
        """The ``collusion`` version the risk model's feature is computed with."""
        if self.risk is None:
            return model_readiness(COLLUSION_MODEL, None, self.unavailable_reason)
        reason = (
            f"{REGISTERED_MODEL} v{self.risk.version} was trained without a collusion model:"
            " its collusion score is the CV rule"
        )
        return model_readiness(COLLUSION_MODEL, self.risk.collusion_version, reason)

    def push(self, frames: Mapping[str, pd.DataFrame]) -> PushSummary:
        """Apply new or changed rows (store table name → rows with the store's columns) and
        warn about the processes they add or change; an empty summary when no history is
        loaded (the rows are in the store: the next start reads them)."""
        if self.online is None:
            return PushSummary(unrouted_tables=tuple(sorted(frames)))
        with self.push_lock:
            batch = self.online.push(frames)
            outcome = batch.outcomes.get(PROCUREMENT_SOURCE)
            if not isinstance(outcome, ProcurementPushOutcome):
                return PushSummary(unrouted_tables=batch.unrouted_tables)
            written = None
            if self.risk is not None and self.warnings is not None:
                written = self.warnings.on_pushed(self.risk, outcome)
        return PushSummary(
            new=outcome.new,
            changed=outcome.changed,
            unchanged=outcome.unchanged,
            ignored_rows=outcome.ignored_rows,
            unrouted_tables=batch.unrouted_tables,
            push_seconds=outcome.seconds,
            alerts=written,
            push_to_alert_seconds=None if written is None else written.push_to_alert_seconds,
        )

    def rescore_open_alerts(self, new_risk: ProcurementRisk) -> AlertsWritten:
        """Re-score the open alerts with a new champion (``risk.with_model``), one push at a
        time with the live pushes; the older rows stay."""
        if self.warnings is None:
            raise RuntimeError("no store to write alerts to")
        with self.push_lock:
            return self.warnings.rescore_open_alerts(new_risk)


def load_champion(tracking_uri: str) -> tuple[RiskModel, str]:
    """``models:/procurement-risk@champion`` as a ``RiskModel``, and its version."""
    return load_champion_model(tracking_uri, REGISTERED_MODEL, "risk_model", RiskModel)


def load_collusion_of(
    model: RiskModel, tracking_uri: str
) -> tuple[CollusionDetector | None, str | None]:
    """The collusion detector ``model``'s features were trained with, and its version
    (``(None, None)``: the CV rule); raises ``ModelUnavailableError`` when it cannot load."""
    version = risk_model_collusion_version(model.metadata)
    if version is None:
        return None, None
    try:
        return load_detector(tracking_uri, version), version
    except Exception as error:
        raise ModelUnavailableError(
            f"model {COLLUSION_MODEL} v{version}, which {REGISTERED_MODEL}'s collusion score"
            " needs, could not be loaded"
        ) from error


def model_feature_rules(model: RiskModel, settings: ServiceSettings) -> HistoryRules:
    """The rules to compute ``model``'s features with: the feature settings saved with it
    (``features.procurement.feature_settings``), else (a model saved without them) the
    deployment's."""
    saved = model.metadata.get(FEATURE_SETTINGS_KEY)
    if isinstance(saved, Mapping):
        return rules_from_feature_settings(saved)
    return HistoryRules.from_settings(settings)


def load_procurement(settings: ServiceSettings, runtime: Runtime) -> ProcurementState:
    """The champion and the store's history behind the online layer; never raises (the
    service starts regardless)."""
    if runtime.store is None or runtime.personal is None:
        return ProcurementState(unavailable_reason=runtime.not_ready_reason or "store not open")
    try:
        model, version = load_champion(settings.resolved_mlflow_tracking_uri)
        collusion = load_collusion_of(model, settings.resolved_mlflow_tracking_uri)
    except ModelUnavailableError as error:
        logger.warning("procurement risk unavailable: %s", error)
        return ProcurementState(unavailable_reason=str(error))
    except Exception:
        logger.exception("loading %s@%s failed", REGISTERED_MODEL, CHAMPION)
        return ProcurementState(
            unavailable_reason=f"model {REGISTERED_MODEL}@{CHAMPION} could not be loaded"
        )
    rules = model_feature_rules(model, settings)
    try:
        with runtime.store.use() as store:
            frames = load_procurement_frames(store)
        history = ProcurementHistory.from_frames(
            frames, rules=rules, personal=runtime.personal, keep_records=False
        )
    except Exception:
        logger.exception("the procurement history could not be built from the store")
        return ProcurementState(unavailable_reason="procurement history unavailable")
    logger.info("procurement risk: %s v%s loaded", REGISTERED_MODEL, version)
    source = ProcurementSource(history)
    return ProcurementState(
        risk=ProcurementRisk(
            model=model,
            name=REGISTERED_MODEL,
            version=version,
            online=source,
            rules=rules,
            collusion=collusion[0],
            collusion_version=collusion[1],
        ),
        online=OnlineFeatureStore([source]),
        warnings=LiveWarnings(runtime.store),
    )


# --------------------------------------------------------------------------------------------
# Scoring


_PATH_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def json_path(location: str) -> list[str | int]:
    """``"bids.details[0].value.amount"`` → ``["bids", "details", 0, "value", "amount"]``."""
    return [int(index) if index else name for name, index in _PATH_STEP.findall(location)]


def release_error_detail(error: ReleaseError, prefix: Sequence[str | int]) -> ErrorDetail:
    return ErrorDetail(
        loc=[*prefix, *json_path(error.location)], msg=error.reason, type=INVALID_RELEASE
    )


_DATE_TEXT = TypeAdapter(datetime)
_BOUNDED_DATE_TEXT: TypeAdapter[datetime] = TypeAdapter(BoundedDateTime)


def _dotted(path: Sequence[str | int]) -> str:
    """``("bids", "details", 0, "date")`` → ``"bids.details[0].date"`` (``json_path``'s inverse)."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def _is_date_key(key: object) -> bool:
    """OCDS date fields: ``date``, ``startDate``, ``endDate``, ``dateSigned``, ``datePublished``."""
    return isinstance(key, str) and (key.startswith("date") or key.endswith("Date"))


def _date_texts(value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[tuple, str]]:
    found: list[tuple[tuple, str]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if _is_date_key(key) and isinstance(item, str):
                found.append(((*path, key), item))
            else:
                found += _date_texts(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _date_texts(item, (*path, index))
    return found


def screen_release(release: object) -> None:
    """Refuse what the flattener would choke on: a string holding a lone surrogate anywhere
    (it cannot be stored or answered), and a date whose year is outside the service's range
    (``serving.api.schemas.common.MIN_YEAR``..``MAX_YEAR``: pandas' nanosecond times end in 2262).
    Date text that does not parse is left to the flattener, which says why."""
    for path in lone_surrogate_paths(release):
        raise ReleaseError(_dotted(path), "contains a lone UTF-16 surrogate (not a character)")
    for path, text in _date_texts(release):
        try:
            _DATE_TEXT.validate_python(text)
        except ValidationError:
            continue
        try:
            _BOUNDED_DATE_TEXT.validate_python(text)
        except ValidationError as error:
            raise ReleaseError(_dotted(path), error.errors()[0]["msg"]) from None


def invalid_release(error: ReleaseError) -> RequestValidationError:
    """A 422 in the shared error shape, ``loc`` the JSON path of the problem under body."""
    detail = release_error_detail(error, ["body"])
    return RequestValidationError([detail.model_dump()])


def red_flags_of(
    history: ProcurementHistory, record: ProcessRecord, features: dict[str, Any]
) -> list[RedFlagOut]:
    """The Cardinal flags the model saw fire (its ``flag_r...`` features), each with the
    figures behind it, as the feature layer judged them (R024 and R058 against the fences of
    the history before the decision date: the fences shown are those)."""
    fired = [code for code, name in CARDINAL_FLAG_FEATURES.items() if features.get(name) == 1.0]
    if not fired:
        return []
    values = red_flags_as_of(history, record, record.decision_date).values
    return [red_flag_out(code, dict(values.get(code, {}))) for code in fired]


def _optional_float(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _assessment_out(
    risk: ProcurementRisk,
    assessment: RiskAssessment,
    i: int,
    features: dict[str, Any],
    red_flags: list[RedFlagOut],
) -> RiskAssessmentOut:
    decision = features.get("decision_date")
    return RiskAssessmentOut(
        ocid=str(features["ocid"]),
        decision_date=None if decision is None or pd.isna(decision) else decision,
        probability=float(assessment.probability[i]),
        warning_level=str(assessment.warning_level[i]),  # type: ignore[arg-type]
        unsupervised_score=_optional_float(float(assessment.unsupervised_score[i])),
        raw_score=float(assessment.raw_score[i]),
        expected_value=float(assessment.contributions[i, -1]),
        collusion_score=_optional_float(float(features.get(COLLUSION_SCORE, math.nan))),
        red_flags=red_flags,
        reasons=[ReasonOut(**reason.as_dict()) for reason in assessment.reasons[i]],
        unseen_categories=assessment.unseen_categories,
        supplier_known=features.get("supplier_known") == 1.0,
        model=risk.model_ref,
    )


class UnexpectedReleaseError(RuntimeError):
    """Building the features of a release failed unexpectedly (a bug, logged with its trace):
    in a batch, that release's answer, so that the others are still scored."""


Answer = RiskAssessmentOut | ReleaseError | UnexpectedReleaseError


def assess_releases(risk: ProcurementRisk, releases: Sequence[object]) -> list[Answer]:
    """One answer per release, in order: its assessment, or why it cannot be scored. The
    valid releases are scored together in one pass of the model.

    ``unseen_categories`` is computed over the valid releases together (the model reports it
    per frame), so in a batch it lists the unseen values of any of them."""
    with _scoring_slots:
        return _assess_releases(risk, releases)


def _assess_releases(risk: ProcurementRisk, releases: Sequence[object]) -> list[Answer]:
    history = risk.history  # one view for the whole batch, whatever is pushed meanwhile
    prepared: list[tuple[int, ProcessRecord, dict[str, Any]]] = []
    answers: list[Answer | None] = [None] * len(releases)
    for position, release in enumerate(releases):
        try:
            screen_release(release)
            record = record_from_release(history, release)
            features = process_features(history, record, collusion=risk.collusion)
            prepared.append((position, record, features))
        except ReleaseError as error:
            answers[position] = error
        except Exception as error:
            logger.exception("features of release %d failed", position)
            answers[position] = UnexpectedReleaseError(
                f"release {position}: {type(error).__name__}"
            )
    if prepared:
        # straight from the feature dicts: what assess(feature_frame(rows)) gives, without
        # building a frame (RiskModel.assess_rows)
        rows = [features for _, _, features in prepared]
        assessment = risk.model.assess_rows(rows, k=REASONS_SHOWN)
        record_scored(risk.name, risk.version, risk.model.metadata, rows, assessment.probability)
        for i, (position, record, features) in enumerate(prepared):
            flags = red_flags_of(history, record, features)
            answers[position] = _assessment_out(risk, assessment, i, features, flags)
    return [answer for answer in answers if answer is not None]


def assess_release(risk: ProcurementRisk, release: object) -> RiskAssessmentOut:
    """The assessment of one release; raises ``ReleaseError`` if it cannot be scored."""
    [answer] = assess_releases(risk, [release])
    if isinstance(answer, ReleaseError | UnexpectedReleaseError):
        raise answer
    return answer


def item_error(error: ReleaseError | UnexpectedReleaseError, index: int) -> ItemError:
    if isinstance(error, UnexpectedReleaseError):
        return ItemError(code="internal", message="internal error")
    return ItemError(
        code="validation_error",
        message="the release cannot be scored",
        details=[release_error_detail(error, ["body", "releases", index])],
    )
