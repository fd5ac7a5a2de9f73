"""Procurement risk in the service: the champion model and the history it scores against,
loaded once at startup; scoring of incoming releases; the alerts and their reviews.

Loading (``load_procurement``, called by the lifespan). The tracking URI is
``Settings.resolved_mlflow_tracking_uri`` (``LODESTAR_MLFLOW_TRACKING_URI``, else the SQLite
file in the data folder), set explicitly before MLflow is touched. The champion is resolved
once to a version (``MlflowClient.get_model_version_by_alias``) and that version is loaded,
so the name and version reported are those of the model that answers even if the alias moves
while the service runs (restart to pick up a new champion). A missing registry or champion
does not stop the service: ``/readyz`` names the missing model and the scoring routes answer
503 ``model_unavailable``. A SQLite registry file that does not exist is not created.

The history (``ProcurementHistory``) is the store's procurement tables as of startup: what
an incoming release's features are computed against. Processes ingested later count once the
service restarts. It is read-only and shared by the request threads.

Scoring runs in the threadpool (plain ``def`` routes); LightGBM uses one thread per call
(``RiskModel``), so concurrent requests use the cores, not each other's threads.
"""

from __future__ import annotations

import json
import logging
import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from features.procurement.build import (
    CARDINAL_FLAG_FEATURES,
    ReleaseError,
    process_features,
    record_from_release,
)
from features.procurement.history import (
    ProcessRecord,
    ProcurementHistory,
    load_procurement_frames,
)
from features.procurement.model import RiskAssessment, RiskModel
from features.procurement.redflags import DESCRIPTIONS, TITLES, flags_for_process
from features.security import PersonalData
from features.store import Store
from serving.audit import SUBJECT_NAMESPACE
from serving.errors import ErrorDetail
from serving.procurement_schemas import (
    AlertDetail,
    AlertPage,
    AlertQuery,
    AlertSummary,
    ItemError,
    ModelReadiness,
    ModelRef,
    ReasonOut,
    RedFlagOut,
    ReviewOut,
    ReviewRequest,
    RiskAssessmentOut,
)
from serving.registry import CHAMPION, ModelUnavailableError, load_champion_model, model_readiness
from serving.runtime import Runtime
from serving.schemas import BUSINESS_TZ, BoundedDateTime, lone_surrogate_paths
from serving.settings import ServiceSettings

logger = logging.getLogger(__name__)

REGISTERED_MODEL = "procurement-risk"  # the name training registers (the registry is the hand-off)
REASONS_SHOWN = 5
INVALID_RELEASE = "invalid_release"


# --------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True)
class ProcurementRisk:
    """What scoring needs, shared read-only by every request."""

    model: RiskModel
    name: str
    version: str
    history: ProcurementHistory

    @property
    def model_ref(self) -> ModelRef:
        return ModelRef(name=self.name, version=self.version)


@dataclass(frozen=True)
class ProcurementState:
    """The loaded model, or why there is none."""

    risk: ProcurementRisk | None = None
    unavailable_reason: str | None = None

    def readiness(self) -> ModelReadiness:
        version = self.risk.version if self.risk is not None else None
        return model_readiness(REGISTERED_MODEL, version, self.unavailable_reason)


def load_champion(tracking_uri: str) -> tuple[RiskModel, str]:
    """``models:/procurement-risk@champion`` as a ``RiskModel``, and its version."""
    return load_champion_model(tracking_uri, REGISTERED_MODEL, "risk_model", RiskModel)


def load_procurement(settings: ServiceSettings, runtime: Runtime) -> ProcurementState:
    """The champion and the store's history; never raises (the service starts regardless)."""
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
    try:
        with runtime.store.use() as store:
            frames = load_procurement_frames(store)
        history = ProcurementHistory.from_frames(
            frames, settings=settings, personal=runtime.personal, keep_records=False
        )
    except Exception:
        logger.exception("the procurement history could not be built from the store")
        return ProcurementState(unavailable_reason="procurement history unavailable")
    logger.info("procurement risk: %s v%s loaded", REGISTERED_MODEL, version)
    return ProcurementState(
        risk=ProcurementRisk(model=model, name=REGISTERED_MODEL, version=version, history=history)
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
    (``serving.schemas.MIN_YEAR``..``MAX_YEAR``: pandas' nanosecond times end in 2262).
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
    prepared: list[tuple[int, ProcessRecord, dict[str, Any]]] = []
    answers: list[Answer | None] = [None] * len(releases)
    for position, release in enumerate(releases):
        try:
            screen_release(release)
            record = record_from_release(risk.history, release)
            prepared.append((position, record, process_features(risk.history, record)))
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
        assessment = risk.model.assess_rows(
            [features for _, _, features in prepared], k=REASONS_SHOWN
        )
        for i, (position, record, features) in enumerate(prepared):
            flags = red_flags_of(risk.history, record, features)
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
