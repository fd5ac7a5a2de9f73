"""Procurement risk in the service: the champion model and the live history it scores
against; scoring of incoming releases; warnings as tenders arrive; the alerts and reviews.

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

Scoring runs in the threadpool (plain ``def`` routes); LightGBM uses one thread per call
(``RiskModel``), so concurrent requests use the cores, not each other's threads.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import re
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from core.security import PersonalData
from features.online.procurement import (
    PROCUREMENT_SOURCE,
    ProcurementPushOutcome,
    ProcurementSource,
)
from features.online.source import OnlineFeatureStore
from features.procurement.build import (
    CARDINAL_FLAG_FEATURES,
    ReleaseError,
    feature_frame,
    process_features,
    record_from_release,
)
from features.procurement.feature_settings import (
    FEATURE_SETTINGS_KEY,
    rules_from_feature_settings,
)
from features.procurement.history import (
    HistoryRules,
    ProcessRecord,
    ProcurementHistory,
    load_process_frames,
    load_procurement_frames,
    records_from_frames,
)
from features.procurement.redflags import DESCRIPTIONS, TITLES, flags_for_process
from models.procurement.alerts import ALERT_COLUMNS, alert_id, alerts_frame, levels_at_or_above
from models.procurement.model import RiskAssessment, RiskModel
from serving.api.schemas.common import (
    BUSINESS_TZ,
    BoundedDateTime,
    ModelReadiness,
    ModelRef,
    lone_surrogate_paths,
)
from serving.api.schemas.procurement import (
    AlertDetail,
    AlertPage,
    AlertQuery,
    AlertSummary,
    ItemError,
    ReasonOut,
    RedFlagOut,
    ReviewOut,
    ReviewRequest,
    RiskAssessmentOut,
)
from serving.live.drift import record_frame, record_scored
from serving.live.registry import (
    CHAMPION,
    ModelUnavailableError,
    load_champion_model,
    model_readiness,
)
from serving.platform.audit import SUBJECT_NAMESPACE
from serving.platform.errors import ErrorDetail
from serving.platform.shared_store import SharedStore
from serving.runtime import Runtime
from serving.settings import ServiceSettings
from store.database import Store

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
        self, model: RiskModel, version: str, rules: HistoryRules | None = None
    ) -> ProcurementRisk:
        """The same live history with another model (a new champion) and its feature
        settings."""
        return ProcurementRisk(
            model=model, name=self.name, version=version, online=self.online, rules=rules
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
            model=model, name=REGISTERED_MODEL, version=version, online=source, rules=rules
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


def _finite(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become None (inside dicts and lists too)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _red_flag(code: str, values: dict[str, Any]) -> RedFlagOut:
    return RedFlagOut(
        code=code,
        title_en=TITLES[code]["en"],
        title_zh=TITLES[code]["zh"],
        description_en=DESCRIPTIONS[code]["en"],
        description_zh=DESCRIPTIONS[code]["zh"],
        values=_finite(values),
    )


def red_flags_of(
    history: ProcurementHistory, record: ProcessRecord, features: dict[str, Any]
) -> list[RedFlagOut]:
    """The Cardinal flags the model saw fire (its ``flag_r...`` features), each with the
    figures behind it from Cardinal's per-process evaluation. R024 and R058 are decided
    against the fences of the history before the decision date (as the features are); the
    fences shown are those."""
    fired = [code for code, name in CARDINAL_FLAG_FEATURES.items() if features.get(name) == 1.0]
    if not fired:
        return []
    values = {
        flag.code: dict(flag.values)
        for flag in flags_for_process(record.cardinal_release(), history.cardinal_settings)
        if flag.group == "OCID"
    }
    price_gap = {k: v for k, v in values.get("R024", {}).items() if k != "lower_fence"}
    if record.decision_date is not None and price_gap:
        q1, lower, upper = history.fences.at(record.decision_date)
        values["R024"] = {**price_gap, "q1": q1, "lower_fence": lower}
        values["R058"] = {**price_gap, "upper_fence": upper}
    return [_red_flag(code, values.get(code, {})) for code in fired]


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
            prepared.append((position, record, process_features(history, record)))
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


# --------------------------------------------------------------------------------------------
# Alerts and reviews (the caller holds the store lock: ``SharedStore.use``)


_ALERT_COLUMNS = (
    "alert_id, ocid, decision_date, buyer_id, supplier_ids, probability, unsupervised_score, "
    "warning_level, red_flags, reasons, model_name, model_version, scored_at, status"
)
_REVIEW_COLUMNS = "review_id, reviewer_key, verdict, scheme, comment_enc, reviewed_at"
_FLAG_TEXT_KEYS = frozenset(
    {"code", "title_en", "title_zh", "description_en", "description_zh", "values"}
)


def _business_day_start(day: date) -> datetime:
    """Midnight of ``day`` in the business time zone, as the store holds instants: naive UTC."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=BUSINESS_TZ)
    return start.astimezone(UTC).replace(tzinfo=None)


def _alert_filters(query: AlertQuery) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if query.level:
        clauses.append(f"warning_level IN ({', '.join('?' * len(query.level))})")
        params += list(query.level)
    if query.buyer_id is not None:
        clauses.append("buyer_id = ?")
        params.append(query.buyer_id)
    if query.supplier_id is not None:
        clauses.append("list_contains(supplier_ids, ?)")
        params.append(query.supplier_id)
    if query.date_from is not None:
        clauses.append("decision_date >= ?")
        params.append(_business_day_start(query.date_from))
    if query.date_to is not None:
        clauses.append("decision_date < ?")
        params.append(_business_day_start(query.date_to + timedelta(days=1)))
    if query.status is not None:
        clauses.append("status = ?")
        params.append(query.status)
    if query.model_version is not None:
        clauses.append("model_version = ?")
        params.append(query.model_version)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _json_list(text: str | None) -> list[dict[str, Any]]:
    if not text:
        return []
    value = json.loads(text)
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _stored_red_flags(text: str | None) -> list[RedFlagOut]:
    """Flags as the batch scorer stored them; what is not text about the flag is its values."""
    flags = []
    for flag in _json_list(text):
        code = flag.get("code")
        if code not in TITLES:
            continue
        values = flag.get("values")
        if not isinstance(values, dict):
            values = {k: v for k, v in flag.items() if k not in _FLAG_TEXT_KEYS}
        flags.append(_red_flag(str(code), values))
    return flags


def _summary_fields(row: tuple[Any, ...]) -> dict[str, Any]:
    (
        alert_id,
        ocid,
        decision_date,
        buyer_id,
        supplier_ids,
        probability,
        unsupervised_score,
        warning_level,
        red_flags,
        _reasons,
        model_name,
        model_version,
        scored_at,
        status,
    ) = row
    return {
        "alert_id": alert_id,
        "ocid": ocid,
        "decision_date": decision_date,
        "buyer_id": buyer_id,
        "supplier_ids": list(supplier_ids or []),
        "probability": probability,
        "unsupervised_score": None
        if unsupervised_score is None or math.isnan(unsupervised_score)
        else unsupervised_score,
        "warning_level": warning_level,
        "red_flag_codes": [flag.code for flag in _stored_red_flags(red_flags)],
        "status": status or "open",
        "model": ModelRef(name=model_name, version=model_version),
        "scored_at": scored_at,
    }


def list_alerts(store: Store, query: AlertQuery) -> AlertPage:
    """One page of the alerts matching ``query``, highest probability first."""
    where, params = _alert_filters(query)
    connection = store.connection
    total_row = connection.execute(f"SELECT count(*) FROM alerts{where}", params).fetchone()
    rows = connection.execute(
        f"SELECT {_ALERT_COLUMNS} FROM alerts{where} "
        "ORDER BY probability DESC, alert_id LIMIT ? OFFSET ?",
        [*params, query.limit, query.offset],
    ).fetchall()
    return AlertPage(
        alerts=[AlertSummary(**_summary_fields(row)) for row in rows],
        total=int(total_row[0]) if total_row else 0,
        limit=query.limit,
        offset=query.offset,
    )


def get_alert(
    store: Store, personal: PersonalData, alert_id: str, *, reveal_comments: bool
) -> AlertDetail | None:
    """The alert with its flags, reasons and review history, or None. Comments are decrypted
    only when ``reveal_comments``."""
    row = store.connection.execute(
        f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE alert_id = ?", [alert_id]
    ).fetchone()
    if row is None:
        return None
    reviews = store.connection.execute(
        f"SELECT {_REVIEW_COLUMNS} FROM reviews WHERE alert_id = ? ORDER BY reviewed_at, review_id",
        [alert_id],
    ).fetchall()
    history = [
        ReviewOut(
            review_id=review_id,
            reviewer=reviewer_key,
            verdict=verdict,
            scheme=scheme or None,
            comment=personal.cipher.decrypt(comment_enc, column="comment_enc")
            if reveal_comments
            else None,
            reviewed_at=reviewed_at,
        )
        for review_id, reviewer_key, verdict, scheme, comment_enc, reviewed_at in reviews
    ]
    return AlertDetail(
        **_summary_fields(row),
        red_flags=_stored_red_flags(row[8]),
        reasons=[ReasonOut(**reason) for reason in _json_list(row[9])],
        history=history,
    )


def review_alert(
    store: Store,
    personal: PersonalData,
    alert_id: str,
    *,
    reviewer: str,
    review: ReviewRequest,
) -> AlertDetail | None:
    """Record a reviewer's verdict on an alert, in one transaction: a ``reviews`` row (comment
    encrypted, reviewer pseudonymised), an ``audit_outcomes`` row (origin ``review``, dated
    today, UTC) that the next training run reads as a label, and the alert's status. Returns
    the alert with its history, or None if there is no such alert."""
    now = datetime.now(UTC).replace(tzinfo=None)
    with store.transaction():
        found = store.connection.execute(
            "SELECT ocid FROM alerts WHERE alert_id = ?", [alert_id]
        ).fetchone()
        if found is None:
            return None
        ocid = str(found[0])
        review_row = {
            "review_id": uuid.uuid4().hex,
            "alert_id": alert_id,
            "ocid": ocid,
            "reviewer_key": personal.pseudonymiser.pseudonym(SUBJECT_NAMESPACE, reviewer),
            "verdict": review.verdict,
            "scheme": review.scheme or "",
            "comment_enc": personal.cipher.encrypt(review.comment, column="comment_enc"),
            "reviewed_at": now,
        }
        store.insert_new("reviews", pd.DataFrame([review_row]))
        outcome = {
            "ocid": ocid,
            "finding": review.verdict,
            "scheme": review.scheme or "",
            "confirmed_at": now.date(),
            "origin": "review",
            "ingested_at": now,
        }
        store.insert_new("audit_outcomes", pd.DataFrame([outcome]))
        store.connection.execute(
            "UPDATE alerts SET status = ? WHERE alert_id = ?", [review.verdict, alert_id]
        )
    return get_alert(store, personal, alert_id, reveal_comments=True)


# --------------------------------------------------------------------------------------------
# Warnings as tenders arrive


@dataclass(frozen=True)
class AlertsWritten:
    """What one round of scoring wrote to ``alerts``.

    ``scored``: processes scored; ``written``: new rows; ``refreshed``: open rows of this model
    version rewritten for a changed process; ``withdrawn``: open rows of this model version
    deleted because the changed process no longer warns; ``kept_reviewed``: warnings not
    written because a reviewer already gave a verdict on that model version's alert (the
    verdict stands); ``push_to_alert_seconds``: from the push's start to the commit.
    ``score_seconds``: features, model and explanations; ``write_seconds``: the alerts'
    transaction, waiting for the store included; ``committed_at``: ``time.perf_counter()``
    when it committed (None when nothing was written)."""

    model: ModelRef
    scored: int = 0
    written: int = 0
    refreshed: int = 0
    withdrawn: int = 0
    kept_reviewed: int = 0
    push_to_alert_seconds: float | None = None
    score_seconds: float = 0.0
    write_seconds: float = 0.0
    committed_at: float | None = None


def _warning_rows(
    risk: ProcurementRisk, frame: pd.DataFrame, levels: tuple[str, ...]
) -> pd.DataFrame:
    """``alerts`` rows for the processes of ``frame`` (``feature_frame`` rows, each as of its
    decision date) warned at one of ``levels``."""
    alerts = alerts_frame(
        risk.model,
        frame,
        model_name=risk.name,
        model_version=risk.version,
        scored_at=datetime.now(UTC).replace(tzinfo=None),
    )
    return alerts[alerts["warning_level"].isin(levels)].reset_index(drop=True)


def _features(history: ProcurementHistory, records: Sequence[ProcessRecord]) -> pd.DataFrame:
    """The feature frame of ``records``, each as of its decision date against ``history``."""
    return feature_frame([process_features(history, record) for record in records])


def _open_or_reviewed(store: Store, alert_ids: Sequence[str]) -> dict[str, str]:
    """Status of each stored alert among ``alert_ids``."""
    if not alert_ids:
        return {}
    rows = store.connection.execute(
        "SELECT alert_id, status FROM alerts WHERE alert_id IN (SELECT unnest(?::VARCHAR[]))",
        [list(alert_ids)],
    ).fetchall()
    return {str(alert): str(status or "open") for alert, status in rows}


_REFRESHED_COLUMNS = tuple(c for c in ALERT_COLUMNS if c not in ("alert_id", "ocid", "status"))


def _refresh(store: Store, rows: pd.DataFrame) -> None:
    assignments = ", ".join(f'"{name}" = ?' for name in _REFRESHED_COLUMNS)
    for values in rows.to_dict("records"):
        store.connection.execute(
            f"UPDATE alerts SET {assignments} WHERE alert_id = ? AND status = 'open'",
            [*(values[name] for name in _REFRESHED_COLUMNS), values["alert_id"]],
        )


class LiveWarnings:
    """Writes the champion's warnings about processes as they are pushed, through the
    service's one store.

    One model version has one alert per process (``alert_id``). A changed process's open
    alert of that version is rewritten with its current figures (or deleted if it no longer
    warns); one a reviewer has judged is kept as judged. Warnings are written at
    ``min_level`` or above (``"yellow"``: every warning, as batch scoring does)."""

    def __init__(self, store: SharedStore, *, min_level: str = "yellow") -> None:
        self._store = store
        self.levels = levels_at_or_above(min_level)

    def on_pushed(self, risk: ProcurementRisk, outcome: ProcurementPushOutcome) -> AlertsWritten:
        """Score the new and changed processes of ``outcome`` against the history that
        includes them, and write their warnings."""
        touched = [outcome.records[ocid] for ocid in outcome.touched if ocid in outcome.records]
        if not touched or outcome.history is None:
            return AlertsWritten(model=risk.model_ref)
        scoring = time.perf_counter()
        frame = _features(risk.scoring_view(outcome.history), touched)
        rows = _warning_rows(risk, frame, self.levels)
        writing = time.perf_counter()
        changed_ids = {alert_id(risk.name, risk.version, ocid): ocid for ocid in outcome.changed}
        with self._store.use() as store, store.transaction():
            stored = _open_or_reviewed(store, [*rows["alert_id"], *changed_ids])
            is_stored = rows["alert_id"].isin(list(stored))
            is_open = rows["alert_id"].map(lambda a: stored.get(a) == "open")
            written = store.insert_new("alerts", rows[~is_stored])
            _refresh(store, rows[is_open])
            warned = set(rows["alert_id"])
            stale = [a for a in changed_ids if stored.get(a) == "open" and a not in warned]
            if stale:
                store.connection.execute(
                    "DELETE FROM alerts WHERE alert_id IN (SELECT unnest(?::VARCHAR[])) "
                    "AND status = 'open'",
                    [stale],
                )
        committed_at = time.perf_counter()
        result = AlertsWritten(
            model=risk.model_ref,
            scored=len(touched),
            written=written,
            refreshed=int(is_open.sum()),
            withdrawn=len(stale),
            kept_reviewed=int((is_stored & ~is_open).sum()),
            push_to_alert_seconds=committed_at - outcome.pushed_at,
            score_seconds=writing - scoring,
            write_seconds=committed_at - writing,
            committed_at=committed_at,
        )
        # pushed traffic for drift, once the warnings are committed: not on their way
        record_frame(risk.name, risk.version, risk.model.metadata, frame, risk.model.predict_proba)
        logger.info("warnings as pushed: %s", result)
        return result

    def rescore_open_alerts(self, risk: ProcurementRisk) -> AlertsWritten:
        """Score every process with an open alert of another model version with ``risk`` (a
        new champion) and write its warnings under that version; the older rows stay, so a
        warning's history keeps both versions."""
        with self._store.use() as store:
            ocids = [
                str(row[0])
                for row in store.connection.execute(
                    "SELECT DISTINCT ocid FROM alerts WHERE coalesce(status, 'open') = 'open' "
                    "AND NOT (model_name = ? AND model_version = ?) ORDER BY ocid",
                    [risk.name, risk.version],
                ).fetchall()
            ]
            frames = load_process_frames(store, ocids) if ocids else {}
        records = records_from_frames(frames) if ocids else []
        if not records:
            return AlertsWritten(model=risk.model_ref)
        rows = _warning_rows(risk, _features(risk.history, records), self.levels)
        with self._store.use() as store, store.transaction():
            written = store.insert_new("alerts", rows)
        return AlertsWritten(model=risk.model_ref, scored=len(records), written=written)
