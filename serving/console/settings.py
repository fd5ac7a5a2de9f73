"""Settings of the web console (``LODESTAR_CONSOLE`` as JSON, e.g. ``{"secure_cookies": true}``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ConsoleSettings(BaseModel):
    """Sessions and sign-in of the console. ``secure_cookies`` must be on behind TLS (the
    session cookie is then never sent over plain HTTP); it is off by default because the
    service itself listens on loopback HTTP and a TLS proxy sits in front in production."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    secure_cookies: bool = False
    idle_minutes: float = Field(
        default=30, gt=0, le=24 * 60, description="a session unused this long ends"
    )
    absolute_hours: float = Field(
        default=10, gt=0, le=7 * 24, description="a session ends this long after sign-in"
    )
    max_failed_signins: int = Field(
        default=5, ge=1, le=100, description="consecutive failures before the account locks"
    )
    lockout_minutes: float = Field(
        default=15, gt=0, le=7 * 24 * 60, description="how long a locked account stays locked"
    )
    page_size: int = Field(default=25, ge=5, le=200, description="warnings per queue page")
    queue_poll_seconds: float = Field(
        default=15, ge=1, le=3600, description="how often an open queue asks for new warnings"
    )
