"""The service's clock."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """Now in UTC, naive: the store's TIMESTAMP columns hold naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)
