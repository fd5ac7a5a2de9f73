"""Procurement alerts in the service: the warnings written as tenders arrive, and what
reviewers read and record about them.

``LiveWarnings`` scores the processes a push adds or changes (``ProcurementState.push``) and
writes those at or above the warning level to ``alerts`` with the model's name and version;
``list_alerts``, ``get_alert`` and ``review_alert`` answer the alert routes. The caller holds
the store lock (``SharedStore.use``).
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from core.security import PersonalData
from features.online.procurement import ProcurementPushOutcome
from features.procurement.build import feature_frame, process_features
from features.procurement.feedback import process_feedback_reasons
from features.procurement.history import (
    ProcessRecord,
    ProcurementHistory,
    load_process_frames,
    records_from_frames,
)
from features.procurement.redflags import DESCRIPTIONS, TITLES
from models.procurement.alerts import ALERT_COLUMNS, alert_id, alerts_frame, levels_at_or_above
from serving.api.schemas.common import BUSINESS_TZ, ModelRef
from serving.api.schemas.procurement import (
    AlertDetail,
    AlertPage,
    AlertQuery,
    AlertSummary,
    MemberReportReason,
    ReasonOut,
    RedFlagOut,
    ReviewOut,
    ReviewRequest,
)
from serving.live.drift import record_frame
from serving.platform.audit import SUBJECT_NAMESPACE
from serving.platform.shared_store import SharedStore
from store.database import Store
from store.queries import procurement as queries
from store.queries.feedback import reports_linked_to

if TYPE_CHECKING:
    from serving.jobs.procurement import ProcurementRisk

logger = logging.getLogger(__name__)


def _finite(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become None (inside dicts and lists too)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def red_flag_out(code: str, values: dict[str, Any]) -> RedFlagOut:
    """A flag as answered: its code, titles and descriptions, and its figures (JSON-safe)."""
    return RedFlagOut(
        code=code,
        title_en=TITLES[code]["en"],
        title_zh=TITLES[code]["zh"],
        description_en=DESCRIPTIONS[code]["en"],
        description_zh=DESCRIPTIONS[code]["zh"],
        values=_finite(values),
    )


# --------------------------------------------------------------------------------------------
# Alerts and reviews (the caller holds the store lock: ``SharedStore.use``)


_FLAG_TEXT_KEYS = frozenset(
    {"code", "title_en", "title_zh", "description_en", "description_zh", "values"}
)


def _business_day_start(day: date) -> datetime:
    """Midnight of ``day`` in the business time zone, as the store holds instants: naive UTC."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=BUSINESS_TZ)
    return start.astimezone(UTC).replace(tzinfo=None)


def alert_filter(query: AlertQuery) -> queries.AlertFilter:
    """The query's dates are business days: from the start of ``date_from`` to the end of
    ``date_to``."""
    return queries.AlertFilter(
        levels=tuple(query.level or ()),
        buyer_id=query.buyer_id,
        supplier_id=query.supplier_id,
        decided_from=None if query.date_from is None else _business_day_start(query.date_from),
        decided_before=None
        if query.date_to is None
        else _business_day_start(query.date_to + timedelta(days=1)),
        status=query.status,
        model_version=query.model_version,
    )


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
        flags.append(red_flag_out(str(code), values))
    return flags


def summary_fields(row: tuple[Any, ...]) -> dict[str, Any]:
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
    selection = alert_filter(query)
    rows = queries.alert_page(store.connection, selection, limit=query.limit, offset=query.offset)
    return AlertPage(
        alerts=[AlertSummary(**summary_fields(row)) for row in rows],
        total=queries.count_alerts(store.connection, selection),
        limit=query.limit,
        offset=query.offset,
    )


def get_alert(
    store: Store, personal: PersonalData, alert_id: str, *, reveal_comments: bool
) -> AlertDetail | None:
    """The alert with its flags, reasons and review history, or None. Comments are decrypted
    only when ``reveal_comments``."""
    row = queries.alert_row(store.connection, alert_id)
    if row is None:
        return None
    reviews = queries.alert_reviews(store.connection, alert_id)
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
    summary = summary_fields(row)
    now = datetime.now(UTC).replace(tzinfo=None)
    reports = reports_linked_to(
        store.connection, summary["ocid"], summary["supplier_ids"], before=now
    )
    return AlertDetail(
        **summary,
        red_flags=_stored_red_flags(row[8]),
        reasons=[ReasonOut(**reason) for reason in _json_list(row[9])],
        member_reports=[
            MemberReportReason(sentence_en=en, sentence_zh=zh)
            for en, zh in process_feedback_reasons(
                reports,
                ocid=summary["ocid"],
                supplier_ids=summary["supplier_ids"],
                as_of=pd.Timestamp(now),
            )
        ],
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
        ocid = queries.alert_ocid(store.connection, alert_id)
        if ocid is None:
            return None
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
        queries.set_alert_status(store.connection, alert_id, review.verdict)
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


def _features(
    history: ProcurementHistory, records: Sequence[ProcessRecord], risk: ProcurementRisk
) -> pd.DataFrame:
    """The feature frame of ``records``, each as of its decision date against ``history``
    (the collusion score by ``risk``'s detector)."""
    collusion = risk.collusion
    return feature_frame(
        [process_features(history, record, collusion=collusion) for record in records]
    )


_REFRESHED_COLUMNS = tuple(c for c in ALERT_COLUMNS if c not in ("alert_id", "ocid", "status"))


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
        frame = _features(risk.scoring_view(outcome.history), touched, risk)
        rows = _warning_rows(risk, frame, self.levels)
        writing = time.perf_counter()
        changed_ids = {alert_id(risk.name, risk.version, ocid): ocid for ocid in outcome.changed}
        with self._store.use() as store, store.transaction():
            stored = queries.alert_statuses(store.connection, [*rows["alert_id"], *changed_ids])
            is_stored = rows["alert_id"].isin(list(stored))
            is_open = rows["alert_id"].map(lambda a: stored.get(a) == "open")
            written = store.insert_new("alerts", rows[~is_stored])
            queries.refresh_open_alerts(store.connection, rows[is_open], _REFRESHED_COLUMNS)
            warned = set(rows["alert_id"])
            stale = [a for a in changed_ids if stored.get(a) == "open" and a not in warned]
            if stale:
                queries.delete_open_alerts(store.connection, stale)
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
            ocids = queries.ocids_with_open_alerts_of_other_models(
                store.connection, risk.name, risk.version
            )
            frames = load_process_frames(store, ocids) if ocids else {}
        records = records_from_frames(frames) if ocids else []
        if not records:
            return AlertsWritten(model=risk.model_ref)
        rows = _warning_rows(risk, _features(risk.history, records, risk), self.levels)
        with self._store.use() as store, store.transaction():
            written = store.insert_new("alerts", rows)
        return AlertsWritten(model=risk.model_ref, scored=len(records), written=written)
