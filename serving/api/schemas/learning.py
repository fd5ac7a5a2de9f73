"""Request and response bodies of the study routes (``/v1/members/{employee_no}/mastery``,
``/v1/members/{employee_no}/recommendations``, ``/v1/branches/mine/mastery``,
``/v1/xapi/statements``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from serving.api.schemas.common import ModelRef, UtcDateTime
from serving.platform.errors import ErrorBody

ReasonKind = Literal["weak_kp", "time_fit", "mandatory", "new_content", "checkin_practice"]


class KpMasteryOut(BaseModel):
    kp_id: str
    name_en: str
    name_zh: str
    domain: str | None
    p_correct: float = Field(
        ge=0, le=1, description="estimated P(a next item of average difficulty is answered right)"
    )
    attempts: int = Field(ge=0, description="answers on the KP up to as_of")
    last_practised: UtcDateTime | None = Field(description="last answer or study")


class CheckInOut(BaseModel):
    """ "Check-in without absorption" (``features.learning.checkin``): much logged study time,
    little learning shown. Judged against every member with study time in the window."""

    flagged: bool
    score: float | None = Field(description="0..1, higher = more suspicious; None: no study")
    logged_minutes: float = Field(ge=0)
    mastery_gain: float | None = Field(description="mean change of p_correct on KPs studied")
    successes_per_hour: float | None
    reasons: list[str] = Field(description="what fired (English)")
    window_start: UtcDateTime
    window_end: UtcDateTime


class MasteryOut(BaseModel):
    employee_no: str
    as_of: UtcDateTime = Field(description="events after it are ignored")
    knowledge_points: list[KpMasteryOut] = Field(description="weakest first")
    check_in: CheckInOut
    model: ModelRef


class ReasonOut(BaseModel):
    kind: ReasonKind | str
    kp_id: str | None = Field(default=None, description="the weak KP it trains (weak_kp)")
    text_en: str
    text_zh: str


class SuggestionOut(BaseModel):
    rank: int = Field(ge=1)
    content_id: str
    title: str | None
    format: str | None = Field(description="video, article, case, quiz, live")
    minutes: float | None = Field(description="expected study time")
    knowledge_points: list[str]
    score: float = Field(description="ranker score after re-ranking (comparable within a list)")
    reasons: list[ReasonOut]


class RecommendationsOut(BaseModel):
    employee_no: str
    as_of: UtcDateTime = Field(description="the instant the suggestions are for")
    k: int
    minutes: float | None = Field(
        description="the time the items must fit: the caller's, else the member's next free "
        "roster window (None when the roster gives none)"
    )
    minutes_source: Literal["request", "roster", "none"]
    items: list[SuggestionOut]
    model: ModelRef
    mastery_model: ModelRef


class DomainMasteryOut(BaseModel):
    domain: str
    knowledge_points: int = Field(ge=0)
    mean_p_correct: float = Field(ge=0, le=1, description="over the branch's members and KPs")


class BranchMasteryOut(BaseModel):
    """Aggregates only: no member is named or can be singled out."""

    as_of: UtcDateTime
    min_group_size: int = Field(description="groups smaller than this are not shown")
    suppressed: bool = Field(description="the branch has fewer members than min_group_size")
    members: int | None = Field(description="None when suppressed")
    members_with_study: int | None
    check_in_flagged: int | None
    check_in_share: float | None = Field(description="flagged ÷ members with study")
    domains: list[DomainMasteryOut]
    model: ModelRef


class RejectedStatementOut(BaseModel):
    index: int = Field(ge=0, description="position in the posted list (0 for a single one)")
    statement_id: str | None = Field(description="the statement's own id, when it had a valid one")
    reason: str


class XapiRejectionOut(BaseModel):
    """A batch with invalid statements: the shared error body, the rejected statements (each
    quarantined with its reason) and the ids of the ones that were stored."""

    error: ErrorBody
    rejected: list[RejectedStatementOut]
    stored_statement_ids: list[str]
