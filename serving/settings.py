"""Settings of the HTTP service: the shared ``Settings`` plus where and how it listens.

Built explicitly (``ServiceSettings()`` reads ``LODESTAR_*``), never at import time.
"""

from __future__ import annotations

from pydantic import Field

from features.settings import Settings


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
    max_body_bytes: int = Field(default=1 << 20, ge=0, description="larger bodies get 413")
    token_ttl_minutes: int = Field(default=480, ge=1, le=7 * 24 * 60)
    log_level: str = "info"
