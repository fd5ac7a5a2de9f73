"""Request and response bodies of the supplier ESG routes (``/v1/suppliers/{id}/esg``,
``/v1/tenders/{ocid}/esg-ranking``, ``/v1/esg/report``)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from serving.api.schemas.common import BUSINESS_DATE_NOTE, BoundedDate, ModelRef

Band = Literal["negligible", "low", "medium", "high", "severe", "unknown"]
Direction = Literal["raises", "lowers", "unknown"]

MAX_ID_CHARS = 128


class KnockOutOut(BaseModel):
    """A gate the supplier fails, with its evidence and date: supplier-wide (``category``
    None: a listing or a major accident, nothing may be bought from it) or a restriction on one
    catalogue category (a missing or expired MA/KA mark or licence: that category may not be
    bought from it)."""

    code: str = Field(examples=["COURT_DEFAULTER", "MISSING_SAFETY_MARK"])
    category: str | None = Field(
        default=None, description="the catalogue category barred; None: supplier-wide"
    )
    description_en: str
    description_zh: str
    evidence: str | None = Field(description="document or record the gate rests on")
    date: dt.date | None = Field(
        description="date of the event or listing; for a restriction, the date checked"
    )


class CategoryRestrictionOut(BaseModel):
    """A catalogue category the supplier may not be bought from, and why."""

    category: str = Field(examples=["M04"])
    restrictions: list[KnockOutOut] = Field(min_length=1)


class DataFreshnessOut(BaseModel):
    """How old the supplier data behind the answer is (``features.esg.history``)."""

    data_through: dt.date | None = Field(
        description="latest supplier event, certificate or register date the service loaded"
    )
    days_after_data: int | None = Field(
        description="as_of − data_through in days (negative: a date inside the data)"
    )
    stale: bool = Field(
        description="as_of is more than 30 days after data_through (or there is no data): "
        "listings, accidents and expiries since the data ends are not seen"
    )
    note_en: str | None = None
    note_zh: str | None = None


class EsgReasonOut(BaseModel):
    """One of the largest SHAP contributions to the score, with what would improve it."""

    feature: str
    value: float | str | None = Field(description="the feature's value (None when missing)")
    contribution: float = Field(description="SHAP contribution (model output units)")
    direction: Direction
    sentence_en: str
    sentence_zh: str
    evidence: str | None = Field(default=None, description="record behind the value")
    evidence_date: dt.date | None = None
    improvement_en: str | None = None
    improvement_zh: str | None = None


class PillarsOut(BaseModel):
    """Risk by pillar, 0-100 on the score's scale: the score the supplier would get if only
    its evidence in this pillar differed from the average supplier (SHAP contributions of the
    pillar's features, calibrated; ``models.esg.model``)."""

    E: float | None = Field(description="environment (GRI 308)")
    S: float | None = Field(description="social: safety and labour (GRI 414)")
    G: float | None = Field(description="governance: listings, tax, litigation, integrity")


class SupplierEsgOut(BaseModel):
    supplier_id: str
    as_of: dt.date = Field(
        description=f"the date the features and gates are as of: {BUSINESS_DATE_NOTE}"
    )
    freshness: DataFreshnessOut
    score: float | None = Field(ge=0, le=100, description="ESG risk 0-100; None when unknown")
    band: Band = Field(
        description="negligible < 10 ≤ low < 20 ≤ medium < 30 ≤ high < 40 ≤ severe; unknown: "
        "no history to score (manual review, never safe)"
    )
    action: str = Field(
        description="approve, approve_green_preferred, approve_monitor_yearly, "
        "corrective_plan_90d_onsite_audit, reject_or_escalate, manual_review, or "
        "reject_knocked_out"
    )
    action_en: str
    action_zh: str
    eligible: bool = Field(
        description="no supplier-wide knock-out: it may be bought from, except in "
        "restricted_categories"
    )
    knocked_out: bool = Field(
        description="not eligible: a supplier-wide knock-out removes it whatever its score"
    )
    manual_review: bool = Field(description="band unknown: a person must screen it first")
    pillars: PillarsOut
    knockouts: list[KnockOutOut] = Field(description="supplier-wide gates failed")
    restricted_categories: list[CategoryRestrictionOut] = Field(
        description="categories of its register entry it may not be bought from (a missing or "
        "expired MA/KA mark or licence); they bar a tender only when it buys that category"
    )
    reasons: list[EsgReasonOut] = Field(max_length=5, description="largest |contribution| first")
    model: ModelRef


class RankingRequest(BaseModel):
    esg_weight: float = Field(
        default=0.3,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="w in blended = (1 − w) × price premium + w × ESG score / 100",
    )
    as_of: BoundedDate | None = Field(
        default=None,
        description=f"screen as of this date ({BUSINESS_DATE_NOTE}); default: the date of the "
        "tender's bid deadline",
    )


class RankedBidderOut(BaseModel):
    rank: int = Field(ge=1, description="1 = best; unknown-band bidders after every scored one")
    supplier_id: str
    bid_id: str
    bid_amount: float
    currency: str | None
    price_premium: float = Field(ge=0, description="bid / lowest eligible bid − 1")
    esg_score: float | None
    band: Band
    action: str
    action_en: str
    action_zh: str
    blended: float | None = Field(description="None when the band is unknown")
    manual_review: bool
    pillars: PillarsOut
    explanation_en: str
    explanation_zh: str
    reasons: list[EsgReasonOut] = Field(max_length=5)


class ExcludedBidderOut(BaseModel):
    supplier_id: str
    bid_id: str
    bid_amount: float
    currency: str | None
    knockouts: list[KnockOutOut] = Field(min_length=1)


class TenderRankingOut(BaseModel):
    ocid: str
    as_of: dt.date
    freshness: DataFreshnessOut
    esg_weight: float
    blend: str = Field(description="the formula the ranking applies")
    lowest_eligible_bid: float | None
    recommended: str | None = Field(
        description="first ranked bidder awardable without further review (band up to medium)"
    )
    ranked: list[RankedBidderOut]
    excluded: list[ExcludedBidderOut] = Field(
        description="barred from this tender (a supplier-wide knock-out or a restriction in one "
        "of its categories), with their gates"
    )
    model: ModelRef


class GriReportOut(BaseModel):
    """GRI 308 / 414 figures; see ``models.esg.reporting`` for each definition."""

    date_from: dt.date
    date_to: dt.date
    freshness: DataFreshnessOut = Field(description="of the screen as of date_to")
    in_scope: int = Field(ge=0, description="suppliers in the register at the period's end")
    screened: int = Field(ge=0, description="GRI 308-2a / 414-2a")
    screened_share: float | None
    pending_manual_review: int = Field(ge=0, description="band unknown: not yet screened")
    knocked_out: int = Field(ge=0, description="with a supplier-wide knock-out")
    flagged: int = Field(ge=0, description="knocked out, high or severe (308-2b / 414-2b)")
    flagged_by_pillar: dict[str, int] = Field(description="model-flagged, by main pillar")
    corrective_plans: int = Field(ge=0, description="band high (308-2d / 414-2d)")
    dropped: int = Field(ge=0, description="knocked out or severe (308-2e / 414-2e)")
    new_suppliers: int = Field(ge=0, description="registered within the period")
    new_screened_environmental: int = Field(ge=0, description="GRI 308-1")
    new_screened_social: int = Field(ge=0, description="GRI 414-1")
    new_screened_share: float | None
    active_in_period: int = Field(ge=0, description="suppliers with a valid bid in the period")
    active_flagged: int = Field(ge=0)
    corrective_actions_closed: int = Field(ge=0, description="closures recorded in the period")
    bands: dict[str, int] = Field(description="suppliers in scope by band")
    model: ModelRef
