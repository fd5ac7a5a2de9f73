"""Supplier ESG in the service: the champion model and the supplier history it scores
against, loaded once at startup; a supplier's assessment, a tender's ranked bidders and the
GRI 308/414 figures of a period.

Loading (``load_esg``, called by the lifespan) follows ``serving.jobs.procurement``: the tracking
URI is ``Settings.resolved_mlflow_tracking_uri``; ``models:/supplier-esg@champion`` is
resolved to a version and that version is loaded (a moved alias is swapped in by
``serving.live.swap``). A missing registry or champion does not stop the service: ``/readyz``
names the missing model and the ESG routes answer 503 ``model_unavailable``. A SQLite
registry file that does not exist is not created.

The history (``SupplierHistory``) is the view of the online layer's ESG source
(``features.online.esg``): built from the store's register, certifications, events and
deliveries at startup, then kept current by ``EsgState.push`` (the hook ingestion calls with
the rows it stored; point in time, equal to a rebuild). Each answer takes one view at its
start and reads only it, so a push landing meanwhile cannot mix two states. The tender's
bids and the report's period records are read from the store per request (under the store
lock).

A supplier's screen is as of ``as_of`` (default today; for a tender, its bid deadline):
gates first, then the model. A supplier-wide knock-out (a listing, a major accident) makes it
not ``eligible``: action ``reject_knocked_out`` whatever the band. A missing or expired MA/KA
mark or licence restricts only its category (``restricted_categories``): the supplier stays
eligible for the rest, and a tender buying that category sets it apart
(``models.esg.ranking``). Band ``unknown`` (no history): no score, ``manual_review``, and a
reason that says so.

Every answer says how old the supplier data is (``freshness``: the history's
``data_through``, and ``stale`` with a note when ``as_of`` is more than 30 days past it): the
default ``as_of`` is today, right in production, but on a store that is not kept up to date
a screen today cannot see recent listings.

Speed: the screen scores straight from feature dicts (``EsgModel.assess_rows``, LightGBM on
one thread) and the routes serialise the answer in their own thread
(``serving.api.schemas.common.model_response``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.esg.history import DataFreshness, SupplierHistory
from features.esg.specs import HAS_ANY_HISTORY
from features.online.esg import EsgPushOutcome, EsgSource
from models.esg.ranking import (
    RankedBidder,
    TenderBids,
    TenderRanking,
    rank_bidders,
    screen_suppliers,
)
from models.esg.reporting import PeriodRecords, esg_report
from serving.api.schemas.common import ModelReadiness, ModelRef
from serving.api.schemas.esg import (
    CategoryRestrictionOut,
    DataFreshnessOut,
    EsgReasonOut,
    ExcludedBidderOut,
    GriReportOut,
    KnockOutOut,
    PillarsOut,
    RankedBidderOut,
    SupplierEsgOut,
    TenderRankingOut,
)
from serving.live.drift import record_assessments
from serving.live.registry import (
    CHAMPION,
    ModelUnavailableError,
    load_champion_model,
    model_readiness,
)
from serving.runtime import Runtime
from serving.settings import ServiceSettings

if TYPE_CHECKING:
    from models.esg.model import EsgModel

logger = logging.getLogger(__name__)

REGISTERED_MODEL = "supplier-esg"  # the name training registers (the registry is the hand-off)
REASONS_SHOWN = 5
KNOCKED_OUT_ACTION = "reject_knocked_out"
KNOCKED_OUT_TEXTS = ("rejected: fails a knock-out gate", "否决：未通过准入门槛")
UNKNOWN_ACTION = "manual_review"
UNKNOWN_TEXTS = ("manual review: nothing is known", "人工审核：无任何记录")
BLEND = "blended = (1 − w) × (bid / lowest eligible bid − 1) + w × ESG score / 100; lower first"
_NO_HISTORY = EsgReasonOut(
    feature=HAS_ANY_HISTORY,
    value=0.0,
    contribution=0.0,
    direction="unknown",
    sentence_en="no ESG history on record (no certificate, event or delivery): the risk is "
    "unknown, not low; screen the supplier by hand before any award",
    sentence_zh="无任何ESG记录（无证书、事件或交付记录）：风险未知而非低风险，授标前须人工审核",
    improvement_en="provide certificates, licences and references with their documents",
    improvement_zh="提供带证明文件的认证、许可证和业绩证明",
)


# --------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True)
class SupplierEsg:
    """What screening needs, shared by every request: the model and the live history.

    ``history`` is the online source's current view: immutable, so take it once per answer
    (the functions below do) and pass it on."""

    model: EsgModel
    name: str
    version: str
    online: EsgSource

    @property
    def history(self) -> SupplierHistory:
        return self.online.view()

    @property
    def model_ref(self) -> ModelRef:
        return ModelRef(name=self.name, version=self.version)

    def with_model(self, model: EsgModel, version: str) -> SupplierEsg:
        """The same live history with another model (a new champion)."""
        return SupplierEsg(model=model, name=self.name, version=version, online=self.online)


@dataclass(frozen=True)
class EsgState:
    """The loaded model with the live history, or why there is none.

    ``online`` is kept without a model too (the store is open, the registry has no champion
    yet): pushes keep it current, and ``with_model`` pairs it with the champion when one
    comes."""

    esg: SupplierEsg | None = None
    unavailable_reason: str | None = None
    online: EsgSource | None = None

    def readiness(self) -> ModelReadiness:
        version = self.esg.version if self.esg is not None else None
        return model_readiness(REGISTERED_MODEL, version, self.unavailable_reason)

    def push(self, frames: Mapping[str, pd.DataFrame]) -> EsgPushOutcome | None:
        """Apply new or changed store rows (table name → rows with the store's columns; the
        source takes its tables and ignores the rest); None when no history is loaded (the
        rows are in the store: the next start reads them)."""
        if self.online is None:
            return None
        return self.online.push(frames)

    def with_model(self, model: EsgModel, version: str) -> EsgState:
        """This state with ``model`` as champion over the same live history."""
        if self.online is None:
            raise RuntimeError("no supplier history to pair the model with")
        esg = SupplierEsg(model=model, name=REGISTERED_MODEL, version=version, online=self.online)
        return EsgState(esg=esg, online=self.online)


def load_champion(tracking_uri: str) -> tuple[EsgModel, str]:
    """``models:/supplier-esg@champion`` as an ``EsgModel``, and its version."""
    from models.esg.model import EsgModel

    return load_champion_model(tracking_uri, REGISTERED_MODEL, "esg_model", EsgModel)


def load_esg(settings: ServiceSettings, runtime: Runtime) -> EsgState:
    """The champion and the online source over the store's supplier history; never raises
    (the service starts)."""
    if runtime.store is None:
        return EsgState(unavailable_reason=runtime.not_ready_reason or "store not open")
    with runtime.store.use() as store:
        online = EsgSource.from_store(store)
    try:
        model, version = load_champion(settings.resolved_mlflow_tracking_uri)
    except ModelUnavailableError as error:
        logger.warning("supplier ESG unavailable: %s", error)
        return EsgState(unavailable_reason=str(error), online=online)
    except Exception:
        logger.exception("loading %s@%s failed", REGISTERED_MODEL, CHAMPION)
        return EsgState(
            unavailable_reason=f"model {REGISTERED_MODEL}@{CHAMPION} could not be loaded",
            online=online,
        )
    logger.info("supplier ESG: %s v%s loaded", REGISTERED_MODEL, version)
    return EsgState(online=online).with_model(model, version)


# --------------------------------------------------------------------------------------------
# Conversions


def _finite_or_none(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _display(value: Any) -> float | str | None:
    if value is None or isinstance(value, str):
        return value
    number = _finite_or_none(value)
    return number if number is not None or isinstance(value, int | float) else str(value)


def _as_date(value: Any) -> date | None:
    if value is None:
        return None
    if hasattr(value, "date") and callable(value.date):
        return value.date()
    return value if isinstance(value, date) else None


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def knockout_out(knockout: Any) -> KnockOutOut:
    return KnockOutOut(
        code=str(knockout.code),
        category=_text_or_none(getattr(knockout, "category", None)),
        description_en=str(knockout.description_en),
        description_zh=str(knockout.description_zh),
        evidence=_text_or_none(getattr(knockout, "evidence", None)),
        date=_as_date(getattr(knockout, "date", None)),
    )


def restrictions_out(restrictions: list[Any]) -> list[CategoryRestrictionOut]:
    """Restrictions grouped by category, in the order the categories were checked."""
    by_category: dict[str, list[KnockOutOut]] = {}
    for restriction in restrictions:
        by_category.setdefault(str(restriction.category), []).append(knockout_out(restriction))
    return [
        CategoryRestrictionOut(category=category, restrictions=found)
        for category, found in by_category.items()
    ]


def freshness_out(freshness: DataFreshness) -> DataFreshnessOut:
    return DataFreshnessOut(
        data_through=freshness.data_through,
        days_after_data=freshness.days_after_data,
        stale=freshness.stale,
        note_en=freshness.note_en,
        note_zh=freshness.note_zh,
    )


def reason_out(reason: Any) -> EsgReasonOut:
    values: Mapping[str, Any] = reason if isinstance(reason, Mapping) else vars(reason)
    contribution = _finite_or_none(values.get("contribution")) or 0.0
    return EsgReasonOut(
        feature=str(values["feature"]),
        value=_display(values.get("value")),
        contribution=contribution,
        direction=values.get("direction") or ("raises" if contribution > 0 else "lowers"),
        sentence_en=str(values.get("sentence_en") or values["feature"]),
        sentence_zh=str(values.get("sentence_zh") or values["feature"]),
        evidence=_text_or_none(values.get("evidence")),
        evidence_date=_as_date(values.get("evidence_date")),
        improvement_en=values.get("improvement_en") or None,
        improvement_zh=values.get("improvement_zh") or None,
    )


def pillars_out(assessment: Any) -> PillarsOut:
    pillars: Mapping[str, Any] = getattr(assessment, "pillars", None) or {}
    return PillarsOut(
        E=_finite_or_none(pillars.get("E")),
        S=_finite_or_none(pillars.get("S")),
        G=_finite_or_none(pillars.get("G")),
    )


def _is_unknown(assessment: Any) -> bool:
    return (
        assessment is None
        or bool(getattr(assessment, "unknown", False))
        or assessment.band == "unknown"
        or _finite_or_none(assessment.score) is None
    )


def reasons_out(assessment: Any) -> list[EsgReasonOut]:
    """The assessment's reasons; for an unknown band, a first reason saying there is no
    history (unless the model already gave one)."""
    reasons = [reason_out(r) for r in (getattr(assessment, "reasons", None) or [])]
    if _is_unknown(assessment) and not any(r.feature == HAS_ANY_HISTORY for r in reasons):
        reasons = [_NO_HISTORY, *reasons]
    return reasons[:REASONS_SHOWN]


def _action(assessment: Any, knocked_out: bool) -> tuple[str, str, str]:
    """(action, English, Chinese): a knock-out overrides the band; unknown is manual review."""
    if knocked_out:
        return (KNOCKED_OUT_ACTION, *KNOCKED_OUT_TEXTS)
    if _is_unknown(assessment):
        return (UNKNOWN_ACTION, *UNKNOWN_TEXTS)
    return str(assessment.action), str(assessment.action_en), str(assessment.action_zh)


# --------------------------------------------------------------------------------------------
# Answers


def assess_supplier(esg: SupplierEsg, supplier_id: str, as_of: date) -> SupplierEsgOut | None:
    """The supplier's screen, or ``None`` when the id is not in the history."""
    history = esg.history
    if supplier_id not in history:
        return None
    screen = screen_suppliers(history, esg.model, [supplier_id], as_of, k=REASONS_SHOWN)
    assessment = screen.assessments.get(supplier_id)
    record_assessments(esg.name, esg.version, esg.model.metadata, history, as_of, [assessment])
    knockouts = screen.knockouts.get(supplier_id, [])
    restricted = restrictions_out(screen.restrictions.get(supplier_id, []))
    unknown = assessment is None or _is_unknown(assessment)
    action, action_en, action_zh = _action(assessment, bool(knockouts))
    if restricted and not knockouts:
        categories = ", ".join(c.category for c in restricted)
        action_en = f"{action_en}; not for restricted categories {categories}"
        action_zh = f"{action_zh}；受限类别 {categories} 不得采购"
    return SupplierEsgOut(
        supplier_id=supplier_id,
        as_of=as_of,
        freshness=freshness_out(history.freshness(as_of)),
        score=None if unknown or assessment is None else _finite_or_none(assessment.score),
        band="unknown" if unknown or assessment is None else assessment.band,
        action=action,
        action_en=action_en,
        action_zh=action_zh,
        eligible=not knockouts,
        knocked_out=bool(knockouts),
        manual_review=unknown,
        pillars=pillars_out(assessment),
        knockouts=[knockout_out(k) for k in knockouts],
        restricted_categories=restricted,
        reasons=reasons_out(assessment),
        model=esg.model_ref,
    )


def _ranked_out(bidder: RankedBidder) -> RankedBidderOut:
    assessment = bidder.assessment
    action, action_en, action_zh = _action(assessment, False)
    return RankedBidderOut(
        rank=bidder.rank,
        supplier_id=bidder.supplier_id,
        bid_id=bidder.bid_id,
        bid_amount=bidder.bid_amount,
        currency=bidder.currency,
        price_premium=bidder.price_premium,
        esg_score=bidder.esg_score,
        band=bidder.band,  # type: ignore[arg-type]
        action=action,
        action_en=action_en,
        action_zh=action_zh,
        blended=bidder.blended,
        manual_review=bidder.manual_review,
        pillars=pillars_out(assessment),
        explanation_en=bidder.explanation_en,
        explanation_zh=bidder.explanation_zh,
        reasons=reasons_out(assessment),
    )


def ranking_out(
    esg: SupplierEsg, ranking: TenderRanking, history: SupplierHistory
) -> TenderRankingOut:
    return TenderRankingOut(
        ocid=ranking.ocid,
        as_of=ranking.as_of,
        freshness=freshness_out(history.freshness(ranking.as_of)),
        esg_weight=ranking.esg_weight,
        blend=BLEND,
        lowest_eligible_bid=ranking.lowest_eligible_bid,
        recommended=ranking.recommended,
        ranked=[_ranked_out(bidder) for bidder in ranking.ranked],
        excluded=[
            ExcludedBidderOut(
                supplier_id=bidder.supplier_id,
                bid_id=bidder.bid_id,
                bid_amount=bidder.bid_amount,
                currency=bidder.currency,
                knockouts=[knockout_out(k) for k in bidder.knockouts],
            )
            for bidder in ranking.excluded
        ],
        model=esg.model_ref,
    )


def rank_tender(
    esg: SupplierEsg, tender: TenderBids, *, esg_weight: float, as_of: date | None
) -> TenderRankingOut:
    """The ranking of bids read from the store (``models.esg.ranking.tender_bids``, under
    the store lock); the screening itself runs without the lock."""
    history = esg.history
    ranking = rank_bidders(
        tender, history, esg.model, esg_weight=esg_weight, as_of=as_of, k=REASONS_SHOWN
    )
    bidders = [bidder.assessment for bidder in ranking.ranked]
    record_assessments(esg.name, esg.version, esg.model.metadata, history, ranking.as_of, bidders)
    return ranking_out(esg, ranking, history)


def report(
    esg: SupplierEsg, records: PeriodRecords, date_from: date, date_to: date
) -> GriReportOut:
    """The figures from the period's records (``models.esg.reporting.period_records``,
    read under the store lock)."""
    history = esg.history
    figures = esg_report(records, history, esg.model, date_from, date_to)
    return GriReportOut(
        date_from=figures.date_from,
        date_to=figures.date_to,
        freshness=freshness_out(history.freshness(date_to)),
        in_scope=figures.in_scope,
        screened=figures.screened,
        screened_share=figures.screened_share,
        pending_manual_review=figures.pending_manual_review,
        knocked_out=figures.knocked_out,
        flagged=figures.flagged,
        flagged_by_pillar=figures.flagged_by_pillar,
        corrective_plans=figures.corrective_plans,
        dropped=figures.dropped,
        new_suppliers=figures.new_suppliers,
        new_screened_environmental=figures.new_screened,
        new_screened_social=figures.new_screened,
        new_screened_share=figures.new_screened_share,
        active_in_period=figures.active_in_period,
        active_flagged=figures.active_flagged,
        corrective_actions_closed=figures.corrective_actions_closed,
        bands=figures.bands,
        model=esg.model_ref,
    )
