"""The service levels and routing of problem reports (part of ``ServiceSettings.feedback``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


def _default_sla_hours() -> dict[str, float]:
    # An integrity concern is first assessed quickly (evidence fades); a price question needs
    # a market check; a blocked process should not wait a week.
    return {
        "delivery_delay": 48.0,
        "price": 120.0,
        "quality": 72.0,
        "process_blockage": 72.0,
        "integrity_concern": 72.0,
    }


def _default_routes() -> dict[str, str]:
    # Integrity concerns go to audit and supervision (审计监察), never to the procurement line
    # the report may be about; blockages go to the party officers who run the loop.
    return {
        "delivery_delay": "procurement_manager",
        "price": "procurement_manager",
        "quality": "procurement_manager",
        "process_blockage": "party_officer",
        "integrity_concern": "auditor",
    }


class FeedbackSettings(BaseModel):
    """``sla_hours``: hours from submission to resolution per kind, after which an unresolved
    report is overdue; ``routes``: the role that handles each kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sla_hours: dict[str, float] = Field(default_factory=_default_sla_hours)
    routes: dict[str, str] = Field(default_factory=_default_routes)
    min_reason_chars: int = Field(
        default=20, ge=1, description="shortest reason accepted for reading a reporter's identity"
    )
