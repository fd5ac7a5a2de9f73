"""Bodies of the problem-feedback routes. No response model has a field for who reported."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from serving.api.schemas.common import BoundedDateTime, Text, UtcDateTime

Kind = Literal["delivery_delay", "price", "quality", "process_blockage", "integrity_concern"]
State = Literal["found", "reported", "resolved", "reviewed"]
Target = Literal["resolved", "reviewed", "reported"]
Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class ReportIn(BaseModel):
    text: Annotated[Text, Field(min_length=4, max_length=4_000, description="free text (Chinese)")]
    found_at: BoundedDateTime | None = Field(
        default=None, description="when the problem was met; defaults to now"
    )
    ocid: Identifier | None = Field(default=None, description="linked contracting process")
    supplier_id: Identifier | None = None
    category: Identifier | None = Field(default=None, description="material category code")
    anonymous: bool = Field(
        default=False, description="store no identity at all: nobody can ever reveal it"
    )


class ReportOut(BaseModel):
    report_id: str
    found_at: UtcDateTime | None
    submitted_at: UtcDateTime
    text: str
    kind: Kind
    kind_probability: float | None
    kind_source: str | None
    handler_kind: Kind | None
    ocid: str | None
    supplier_id: str | None
    category: str | None
    route_role: str
    state: State
    due_at: UtcDateTime | None
    resolved_at: UtcDateTime | None
    reviewed_at: UtcDateTime | None
    overdue: bool


class ReportEvent(BaseModel):
    seq: int
    from_state: State | None
    to_state: State
    moved_at: UtcDateTime
    actor_role: str


class ReportDetail(BaseModel):
    report: ReportOut
    events: list[ReportEvent]


class ReportList(BaseModel):
    items: list[ReportOut]
    total: int


class MoveIn(BaseModel):
    to_state: Target
    note: Annotated[Text, Field(max_length=4_000)] | None = None
    handler_kind: Kind | None = Field(default=None, description="the kind the handler confirms")


class RevealIn(BaseModel):
    reason: Annotated[Text, Field(max_length=2_000, description="why the identity is needed")]


class RevealOut(BaseModel):
    report_id: str
    employee_no: str
