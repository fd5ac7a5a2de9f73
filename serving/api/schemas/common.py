"""Request and response bodies of the HTTP API (responses are what clients may rely on)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from fastapi import Response
from pydantic import AfterValidator, BaseModel, Field, model_validator

from serving.platform.auth import Role
from serving.platform.errors import LONE_SURROGATE, SafeJSONResponse
from serving.platform.revocations import RevocationReason

# Employee numbers and user names: letters, digits and a few separators, as issued by HR.
EMPLOYEE_NO_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"

# --------------------------------------------------------------------------------------------
# Shared input types: bounded dates, text without lone surrogates, bounded paging

MIN_YEAR = 1900
MAX_YEAR = 2100
MAX_OFFSET = 2**31 - 1  # DuckDB's LIMIT/OFFSET parameters are 32-bit signed integers
# The group's business time zone: China Standard Time (Asia/Shanghai), no daylight saving.
BUSINESS_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")
DATE_RANGE_NOTE = f"years {MIN_YEAR}-{MAX_YEAR}"
BUSINESS_DATE_NOTE = (
    f"a calendar date in China Standard Time (Asia/Shanghai, UTC+8), {DATE_RANGE_NOTE}"
)
INSTANT_NOTE = f"an instant: with an offset, or UTC when it has none; {DATE_RANGE_NOTE}"


class OutOfRangeError(ValueError):
    """A date outside ``MIN_YEAR``..``MAX_YEAR``."""


def check_year(value: date) -> date:
    """``value`` unchanged if its year (as written, before any offset is applied) is within
    ``MIN_YEAR``..``MAX_YEAR``; dates beyond overflow the store's and pandas' time types."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise OutOfRangeError(f"out of range: only {DATE_RANGE_NOTE} are accepted")
    return value


def has_lone_surrogate(text: str) -> bool:
    """A UTF-16 surrogate code point on its own (``"\\ud800"`` in JSON): not a character,
    cannot be encoded as UTF-8."""
    return LONE_SURROGATE.search(text) is not None


def check_text(text: str) -> str:
    if has_lone_surrogate(text):
        raise ValueError("contains a lone UTF-16 surrogate (not a character)")
    return text


def lone_surrogate_paths(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple]:
    """JSON paths (keys and indexes) of every string in ``value``, a decoded JSON document,
    that holds a lone surrogate, dict keys included."""
    if isinstance(value, str):
        if has_lone_surrogate(value):
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and has_lone_surrogate(key):
                yield (*path, "(key)")
            else:
                yield from lone_surrogate_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from lone_surrogate_paths(item, (*path, index))


BoundedDate = Annotated[date, AfterValidator(check_year)]
"""A request's calendar date, ``MIN_YEAR``..``MAX_YEAR`` (422 outside)."""
BoundedDateTime = Annotated[datetime, AfterValidator(check_year)]
"""A request's instant, ``MIN_YEAR``..``MAX_YEAR`` (422 outside); naive means UTC."""
Text = Annotated[str, AfterValidator(check_text)]
"""Request text: any string but one holding a lone surrogate (422)."""
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET, description="items to skip")]


def as_utc(moment: datetime) -> datetime:
    """An aware UTC instant: naive values are UTC (what the store and the models hold)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


UtcDateTime = Annotated[datetime, AfterValidator(as_utc)]
"""A response's instant, always sent with its offset (``Z``)."""


def business_today() -> date:
    """Today in the business time zone."""
    return datetime.now(BUSINESS_TZ).date()


def model_response(body: BaseModel, status_code: int = 200) -> Response:
    """``body`` as a JSON response, serialised where it is built (in the route's thread).

    A route that returns a model has FastAPI validate it again and, for a plain ``def``
    route, do so in one more threadpool round trip; the models here are validated when they
    are built, so the hot routes return this instead. The route keeps its ``response_model``
    for the OpenAPI schema."""
    try:
        content = body.model_dump_json(by_alias=True).encode("utf-8")
    except ValueError:  # a lone surrogate in a string: serialisation refuses it
        return SafeJSONResponse(body.model_dump(mode="json", by_alias=True), status_code)
    return Response(content, status_code=status_code, media_type="application/json")


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    tables: int = Field(ge=0, description="tables present in the store")


class ModelRef(BaseModel):
    name: str = Field(examples=["procurement-risk"])
    version: str = Field(examples=["3"])


class ModelReadiness(BaseModel):
    name: str
    alias: str
    loaded: bool
    version: str | None = None
    reason: str | None = Field(default=None, description="why it is not loaded")
    loaded_at: UtcDateTime | None = Field(
        default=None, description="when the version answering was loaded (UTC)"
    )
    load_error: str | None = Field(
        default=None,
        description="why the champion's newer version could not be loaded (this one answers)",
    )
    feature_settings_warning: str | None = Field(
        default=None,
        description="the deployment's feature settings differ from those the model was "
        "trained with; the model's own are used",
    )


class ServiceReadiness(Readiness):
    """Store readiness, and which registered models the service answers with."""

    models: list[ModelReadiness] = Field(default_factory=list)


class WhoAmI(BaseModel):
    subject: str
    role: Role
    expires_at: UtcDateTime


class IngestRunCounts(BaseModel):
    reader: str
    source_file: str | None
    started_at: UtcDateTime | None
    records_in: int = Field(ge=0)
    accepted: int = Field(ge=0)
    quarantined: int = Field(ge=0)


class StoreSummary(BaseModel):
    table_rows: dict[str, int] = Field(description="row count of every table")
    latest_ingest_runs: list[IngestRunCounts] = Field(description="the latest run of each reader")


class AuditLogQuery(BaseModel):
    """Query parameters of ``GET /v1/audit-log``."""

    limit: int = Field(default=100, ge=1, le=500)
    offset: Offset = 0
    anchor_seq: int | None = Field(
        default=None,
        ge=1,
        le=2**63 - 1,
        description="an entry recorded earlier, outside the service",
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
    at: UtcDateTime
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
    subject: Text = Field(
        min_length=1,
        max_length=128,
        pattern=r"^\S(.*\S)?$",
        description="the token subject: an employee number, or a staff user name",
    )
    reason: RevocationReason


class RevocationOut(BaseModel):
    subject_key: str = Field(description="keyed pseudonym of the subject (the audit log's)")
    revoked_at: UtcDateTime = Field(description="tokens issued at or before it are void")
    revoked_by_key: str
    reason: str


class RevocationQuery(BaseModel):
    limit: int = Field(default=100, ge=1, le=500)
    offset: Offset = 0


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
    joined_on: date | None = Field(description=BUSINESS_DATE_NOTE)
