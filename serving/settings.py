"""Settings of the HTTP service: the shared ``Settings`` plus where and how it listens.

Built explicitly (``ServiceSettings()`` reads ``LODESTAR_*``), never at import time.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.settings import Settings
from serving.console.settings import ConsoleSettings
from serving.jobs.feedback_settings import FeedbackSettings

# Route groups a caller's requests are counted in, one token bucket per (caller, group); the
# paths of each are in ``serving/platform/ratelimit.py``.
RATE_LIMIT_GROUPS = (
    "study_suggestions",
    "study",
    "xapi",
    "risk",
    "risk_batch",
    "procurement",
    "esg",
    "audit_log",
    "api",
    "public",
)


class RateLimit(BaseModel):
    """A token bucket: up to ``burst`` requests at once, refilled at ``per_minute``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    per_minute: float = Field(gt=0, le=1_000_000, allow_inf_nan=False)
    burst: int = Field(ge=1, le=1_000_000)


def _limit(per_minute: float, burst: int) -> RateLimit:
    return RateLimit(per_minute=per_minute, burst=burst)


def _default_limits_by_role() -> dict[str, dict[str, RateLimit]]:
    """Suggestions cost the most per request (a ranking over the catalogue), so a member
    gets a few a minute; auditors score releases all day; integration accounts (admin for
    xAPI posts) and batch scoring have buckets of their own."""
    return {
        "member": {
            "study_suggestions": _limit(6, 5),
            "study": _limit(30, 10),
            "xapi": _limit(30, 10),
        },
        "admin": {"xapi": _limit(120, 60)},
        "auditor": {
            "risk": _limit(600, 120),
            "risk_batch": _limit(12, 4),
            "procurement": _limit(300, 60),
        },
        "procurement_manager": {
            "risk": _limit(300, 60),
            "risk_batch": _limit(12, 4),
            "procurement": _limit(300, 60),
        },
        "esg_analyst": {"esg": _limit(120, 30)},
        "party_officer": {"study": _limit(30, 10)},
        "security_auditor": {"audit_log": _limit(30, 10)},
    }


class RateLimits(BaseModel):
    """Per-caller request rates (``LODESTAR_RATE_LIMITS`` as JSON): ``by_role[role][group]``
    for an authenticated caller (one bucket per subject and group), ``default`` where the
    role lists no such group, ``anonymous`` for requests without a valid credential (one
    bucket per client IP, every path together)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    default: RateLimit = _limit(120, 60)
    anonymous: RateLimit = _limit(120, 60)
    by_role: dict[str, dict[str, RateLimit]] = Field(default_factory=_default_limits_by_role)

    @field_validator("by_role")
    @classmethod
    def _known_groups(
        cls, by_role: dict[str, dict[str, RateLimit]]
    ) -> dict[str, dict[str, RateLimit]]:
        unknown = {group for limits in by_role.values() for group in limits} - set(
            RATE_LIMIT_GROUPS
        )
        if unknown:
            raise ValueError(f"unknown route groups {sorted(unknown)}; known: {RATE_LIMIT_GROUPS}")
        return by_role

    def for_caller(self, role: str, group: str) -> RateLimit:
        return self.by_role.get(role, {}).get(group, self.default)


class ServiceSettings(Settings):
    """``Settings`` plus the service's own knobs (``LODESTAR_PORT=8080`` and so on)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535, description="0 picks a free port")
    workers: int = Field(
        default=1,
        ge=1,
        description="uvicorn worker processes; only 1 is accepted while the store is DuckDB, "
        "which allows one writing process per file (the audit log is written on every request)",
    )
    audit_move_seconds: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="how often journaled audit entries are moved into the audit_log table",
    )
    snapshot_interval_hours: float = Field(
        default=6.0,
        ge=0,
        description="hours between scheduled store snapshots for training (0 = none)",
    )
    registry_poll_seconds: float = Field(
        default=30.0,
        ge=0,
        description="seconds between reads of each model's champion alias; a moved alias is "
        "loaded in the background and swapped in (0 = never: restart to pick one up)",
    )
    retrain_enabled: bool = Field(
        default=True,
        description="whether the service retrains at all (off: POST /v1/admin/retrain answers "
        "409 and nothing is scheduled; train elsewhere against a snapshot)",
    )
    retrain_interval_hours: float = Field(
        default=24.0,
        ge=0,
        description="hours between scheduled retrains of every model (0 = none)",
    )
    retrain_after_verdicts: int = Field(
        default=50,
        ge=0,
        description="retrain every model once this many reviewer verdicts have arrived since "
        "the last retrain (0 = never for this reason)",
    )
    retrain_check_seconds: float = Field(
        default=60.0,
        gt=0,
        description="how often the retrain schedule checks its interval and the verdict count",
    )
    retrain_job_arguments: dict[str, list[str]] = Field(
        default_factory=dict,
        description="extra command-line options per model for its training job, e.g. "
        '{"procurement-risk": ["--n-estimators", "200"]}',
    )
    max_body_bytes: int = Field(default=1 << 20, ge=0, description="larger bodies get 413")
    ingest_max_bytes: int = Field(
        default=2 << 30,
        ge=0,
        description="largest file accepted by POST /v1/ingest/{kind} (streamed to a spool "
        "file, never held in memory); larger gets 413",
    )
    token_ttl_minutes: int = Field(default=480, ge=1, le=7 * 24 * 60)
    log_level: str = "info"
    rate_limits: RateLimits = Field(default_factory=RateLimits)
    study_as_of_max_age_days: int = Field(
        default=1830,
        ge=1,
        le=3660,
        description="suggestions as_of further back than this are refused (422)",
    )
    drift_window: int = Field(
        default=5000,
        ge=10,
        le=1_000_000,
        description="scored rows kept per model to compare with its training reference",
    )
    drift_warning_psi: float = Field(
        default=0.2,
        gt=0,
        allow_inf_nan=False,
        description="a model warns of drift when its score's or any input's PSI exceeds this",
    )
    drift_min_rows: int = Field(
        default=200,
        ge=1,
        description="rows a window needs before it may warn (fewer make PSI noise)",
    )
    drift_refresh_seconds: float = Field(
        default=5.0,
        ge=0,
        le=3600,
        description="how long computed drift and alert precision figures are reused",
    )
    drift_metrics_features: int = Field(
        default=10,
        ge=0,
        le=1000,
        description="inputs per model with a PSI gauge on /metrics, largest PSI first",
    )
    study_replay_builds: RateLimit = Field(
        default=RateLimit(per_minute=0.2, burst=3),
        description="full snapshot builds for past as_of hours, all callers together "
        "(each costs seconds of CPU); beyond it a new hour is refused with 429",
    )
    console: ConsoleSettings = Field(
        default_factory=ConsoleSettings,
        description="the web console's sessions and sign-in (LODESTAR_CONSOLE as JSON)",
    )
    feedback: FeedbackSettings = Field(
        default_factory=FeedbackSettings,
        description="problem reports' service levels and routing (LODESTAR_FEEDBACK as JSON)",
    )
