"""The service levels and routing of problem reports (part of ``ServiceSettings.feedback``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ingest.readers.feedback import ROUTES, SLA_HOURS


class FeedbackSettings(BaseModel):
    """``sla_hours``: hours from submission to resolution per kind, after which an unresolved
    report is overdue; ``routes``: the role that handles each kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sla_hours: dict[str, float] = Field(default_factory=lambda: dict(SLA_HOURS))
    routes: dict[str, str] = Field(default_factory=lambda: dict(ROUTES))
    min_reason_chars: int = Field(
        default=20, ge=1, description="shortest reason accepted for reading a reporter's identity"
    )
