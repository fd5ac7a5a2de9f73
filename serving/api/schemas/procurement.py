"""Request and response bodies of the procurement risk routes (``/v1/procurement/...``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from serving.api.schemas.common import (
    BUSINESS_DATE_NOTE,
    BoundedDate,
    ModelRef,
    Offset,
    Text,
    UtcDateTime,
)
from serving.platform.errors import ErrorDetail
from store.schema import AuditScheme

WarningLevel = Literal["red", "orange", "yellow", "none"]
AlertLevel = Literal["red", "orange", "yellow"]
Verdict = Literal["confirmed", "dismissed", "needs_information"]
AlertStatus = Literal["open", "confirmed", "dismissed", "needs_information"]
Scheme = AuditScheme

MAX_BATCH_RELEASES = 500
MAX_COMMENT_CHARS = 2000
# sha256 hex of model name, version and ocid (training.procurement_risk.alert_id)
ALERT_ID_PATTERN = r"^[0-9a-f]{64}$"

RELEASE_EXAMPLE: dict[str, Any] = {
    "ocid": "ocds-lodestar-2025-000001",
    "date": "2025-02-18T17:00:00+08:00",
    "buyer": {"id": "BUY-16"},
    "tender": {
        "procurementMethod": "open",
        "value": {"amount": 35000.0, "currency": "CNY"},
        "tenderPeriod": {
            "startDate": "2024-12-20T09:00:00+08:00",
            "endDate": "2025-01-10T17:00:00+08:00",
        },
    },
    "bids": {
        "details": [
            {
                "id": "BID-01",
                "status": "valid",
                "tenderers": [{"id": "SUP-00004"}],
                "value": {"amount": 31778.0, "currency": "CNY"},
            },
            {
                "id": "BID-02",
                "status": "valid",
                "tenderers": [{"id": "SUP-00978"}],
                "value": {"amount": 33268.0, "currency": "CNY"},
            },
        ]
    },
    "awards": [
        {
            "id": "AWD-01",
            "date": "2025-01-12T16:00:00+08:00",
            "status": "active",
            "relatedBid": "BID-01",
            "suppliers": [{"id": "SUP-00004"}],
            "value": {"amount": 31778.0, "currency": "CNY"},
        }
    ],
}


class RedFlagOut(BaseModel):
    """A Cardinal red flag fired for the process."""

    code: str = Field(examples=["R018"])
    title_en: str
    title_zh: str
    description_en: str
    description_zh: str
    values: dict[str, Any] = Field(
        default_factory=dict, description="the figures behind the flag (bids compared, fences)"
    )


class ReasonOut(BaseModel):
    """One of the largest exact tree SHAP contributions, as a reason code."""

    feature: str
    value: float | str | None = Field(description="the feature's value (None when missing)")
    contribution: float = Field(description="SHAP contribution in log-odds (raw score) units")
    direction: Literal["raises", "lowers"]
    sentence_en: str
    sentence_zh: str


class RiskAssessmentOut(BaseModel):
    """The risk of one contracting process, as of its decision date, with its reasons."""

    ocid: str
    decision_date: UtcDateTime | None = Field(
        description="the instant the features are as of: the award date (else the tender "
        "period's end or start, else the release date)"
    )
    probability: float = Field(ge=0, le=1, description="calibrated probability of a finding")
    warning_level: WarningLevel
    unsupervised_score: float | None = Field(
        description="isolation-forest anomaly score, 0..1 (higher = more unusual)"
    )
    raw_score: float = Field(description="LightGBM raw score (log-odds)")
    expected_value: float = Field(
        description="SHAP bias: raw_score = expected_value + the sum of every contribution"
    )
    collusion_score: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="bid-rigging score, 0..1, for a process with a lot of at least three priced "
        "bids: the share of the group's comparable tenders of the past year whose bids varied "
        "more (1 = bids closer together than in any of them); missing below three bids or "
        "without 30 earlier tenders to compare with",
    )
    red_flags: list[RedFlagOut]
    reasons: list[ReasonOut] = Field(max_length=5, description="largest |contribution| first")
    unseen_categories: dict[str, list[str]] = Field(
        description="values not seen in training, scored as missing"
    )
    supplier_known: bool = Field(
        description="every winner (or bidder) is in the supplier register; an unknown one "
        "has no history features"
    )
    model: ModelRef


class RiskBatchRequest(BaseModel):
    releases: list[Any] = Field(
        min_length=1,
        max_length=MAX_BATCH_RELEASES,
        description=f"OCDS compiled releases, at most {MAX_BATCH_RELEASES}",
    )


class ItemError(BaseModel):
    """Why one release of a batch was not scored (the error shape, without a request id)."""

    code: str = Field(examples=["validation_error"])
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)


class RiskBatchItem(BaseModel):
    """Exactly one of ``result`` and ``error`` is set."""

    index: int = Field(ge=0, description="position of the release in the request")
    result: RiskAssessmentOut | None = None
    error: ItemError | None = None


class RiskBatchResponse(BaseModel):
    items: list[RiskBatchItem] = Field(description="one per release, in request order")
    scored: int = Field(ge=0)
    failed: int = Field(ge=0)
    model: ModelRef


class AlertQuery(BaseModel):
    """Query parameters of ``GET /v1/procurement/alerts``."""

    level: list[AlertLevel] = Field(default_factory=list, description="repeatable; any of")
    buyer_id: Text | None = Field(default=None, max_length=128)
    supplier_id: Text | None = Field(default=None, max_length=128)
    date_from: BoundedDate | None = Field(
        default=None, description=f"decision date, inclusive: {BUSINESS_DATE_NOTE}"
    )
    date_to: BoundedDate | None = Field(
        default=None, description=f"decision date, inclusive: {BUSINESS_DATE_NOTE}"
    )
    status: AlertStatus | None = None
    model_version: Text | None = Field(default=None, max_length=32)
    limit: int = Field(default=50, ge=1, le=500)
    offset: Offset = 0

    @model_validator(mode="after")
    def _dates_in_order(self) -> AlertQuery:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("date_from is after date_to")
        return self


class AlertSummary(BaseModel):
    alert_id: str
    ocid: str
    decision_date: UtcDateTime | None
    buyer_id: str | None
    supplier_ids: list[str]
    probability: float
    unsupervised_score: float | None
    warning_level: AlertLevel
    red_flag_codes: list[str]
    status: AlertStatus
    model: ModelRef
    scored_at: UtcDateTime | None


class AlertPage(BaseModel):
    alerts: list[AlertSummary] = Field(description="highest probability first")
    total: int = Field(ge=0, description="alerts matching the filters")
    limit: int
    offset: int


class ReviewOut(BaseModel):
    review_id: str
    reviewer: str = Field(description="keyed pseudonym of the reviewer's user name")
    verdict: Verdict
    scheme: Scheme | None
    comment: str | None = Field(description="decrypted for auditors; None for other roles")
    reviewed_at: UtcDateTime


class MemberReportReason(BaseModel):
    """Members' problem reports about the process or its suppliers, counted by kind and
    decayed by age (``features.procurement.feedback``); never who reported."""

    sentence_en: str
    sentence_zh: str


class AlertDetail(AlertSummary):
    red_flags: list[RedFlagOut]
    reasons: list[ReasonOut]
    member_reports: list[MemberReportReason] = Field(
        default_factory=list, description="reports submitted before the alert was opened"
    )
    history: list[ReviewOut] = Field(description="reviews, oldest first")


class ReviewRequest(BaseModel):
    verdict: Verdict
    scheme: Scheme | None = Field(default=None, description="required when confirmed")
    comment: Text | None = Field(default=None, max_length=MAX_COMMENT_CHARS)

    @model_validator(mode="after")
    def _scheme_fits_verdict(self) -> ReviewRequest:
        if self.verdict == "confirmed" and self.scheme is None:
            raise ValueError("a confirmed finding needs its scheme")
        if self.verdict == "dismissed" and self.scheme is not None:
            raise ValueError("a dismissed alert has no scheme")
        return self
