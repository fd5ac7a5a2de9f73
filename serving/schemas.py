"""Request and response bodies of the HTTP API (responses are what clients may rely on)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from fastapi import Response
from pydantic import BaseModel, Field, model_validator

from serving.auth import Role
from serving.revocations import RevocationReason

# Employee numbers and user names: letters, digits and a few separators, as issued by HR.
EMPLOYEE_NO_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


def model_response(body: BaseModel, status_code: int = 200) -> Response:
    """``body`` as a JSON response, serialised where it is built (in the route's thread).

    A route that returns a model has FastAPI validate it again and, for a plain ``def``
    route, do so in one more threadpool round trip; the models here are validated when they
    are built, so the hot routes return this instead. The route keeps its ``response_model``
    for the OpenAPI schema."""
    return Response(
        body.model_dump_json(by_alias=True), status_code=status_code, media_type="application/json"
    )


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    tables: int = Field(ge=0, description="tables present in the store")


class WhoAmI(BaseModel):
    subject: str
    role: Role
    expires_at: datetime


class IngestRunCounts(BaseModel):
    reader: str
    source_file: str | None
    started_at: datetime | None
    records_in: int = Field(ge=0)
    accepted: int = Field(ge=0)
    quarantined: int = Field(ge=0)


class StoreSummary(BaseModel):
    table_rows: dict[str, int] = Field(description="row count of every table")
    latest_ingest_runs: list[IngestRunCounts] = Field(description="the latest run of each reader")


class AuditLogQuery(BaseModel):
    """Query parameters of ``GET /v1/audit-log``."""

    limit: int = Field(default=100, ge=1, le=500)
    offset: int = Field(default=0, ge=0)
    anchor_seq: int | None = Field(
        default=None, ge=1, description="an entry recorded earlier, outside the service"
    )
    anchor_hash: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="that entry's entry_hash"
    )

    @model_validator(mode="after")
    def _anchor_is_whole(self) -> AuditLogQuery:
        if (self.anchor_seq is None) != (self.anchor_hash is None):
            raise ValueError("anchor_seq and anchor_hash go together")
        return self


class AuditLogEntry(BaseModel):
    seq: int
    at: datetime
    subject_key: str = Field(description="keyed pseudonym of the caller; '' if unauthenticated")
    role: str
    action: str
    resource: str
    status_code: int
    request_id: str
    prev_hash: str
    entry_hash: str


class AuditLogPage(BaseModel):
    entries: list[AuditLogEntry]
    total: int = Field(ge=0)
    limit: int
    offset: int
    chain_valid: bool = Field(description="whether the whole hash chain verifies")
    head_seq: int = Field(ge=0, description="the last entry: record it outside the service")
    head_hash: str = Field(description="the last entry's hash (64 zeros when empty)")
    anchor_matches: bool | None = Field(
        default=None,
        description="the anchor entry is still there with that hash (None: no anchor given). "
        "With chain_valid, nothing up to the anchor was changed or removed; the hash chain "
        "alone cannot show that entries after the last recorded anchor were cut off",
    )


class RevocationRequest(BaseModel):
    subject: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^\S(.*\S)?$",
        description="the token subject: an employee number, or a staff user name",
    )
    reason: RevocationReason


class RevocationOut(BaseModel):
    subject_key: str = Field(description="keyed pseudonym of the subject (the audit log's)")
    revoked_at: datetime = Field(description="UTC; tokens issued at or before it are void")
    revoked_by_key: str
    reason: str


class RevocationQuery(BaseModel):
    limit: int = Field(default=100, ge=1, le=500)
    offset: int = Field(default=0, ge=0)


class RevocationPage(BaseModel):
    revocations: list[RevocationOut]
    total: int = Field(ge=0)
    limit: int
    offset: int


class MemberRecord(BaseModel):
    """A member's own record, decrypted."""

    employee_no: str
    name: str | None
    phone: str | None
    party_branch: str | None
    role: str | None
    unit: str | None
    shift_pattern: str | None
    crew: str | None
    joined_on: date | None
