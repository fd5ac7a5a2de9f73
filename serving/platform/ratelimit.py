"""Per-caller rate limits: a token bucket per (subject, route group), or per client IP for
requests without a valid credential; over the limit is a 429 with ``Retry-After``.

The limits are ``ServiceSettings.rate_limits`` (per role and route group). The buckets sit
behind ``RateLimiter`` (one method, ``take``): ``InProcessRateLimiter`` keeps them in this
process's memory, which is right while the service runs one worker process. Several workers
would each count separately (a caller could get up to N times the rate); they would share one
limiter implementing the same ``take`` against a shared store (an atomic read-refill-take per
key, as a Redis script does), and nothing else here changes.

The middleware runs after the audit log's (a 429 is audited, with the caller when known)
and before authentication refuses anything, so a flood of bad credentials from one address
is limited too.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from serving.platform.auth import ROLES, Principal, identify
from serving.platform.context import is_api_path
from serving.platform.errors import error_response
from serving.platform.metrics import ServiceMetrics
from serving.settings import RateLimit, RateLimits

ANONYMOUS = "anonymous"
# First match wins; paths are matched before routing, so an unknown /v1 path is in "api".
_GROUP_PATHS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (group, re.compile(pattern))
    for group, pattern in (
        ("study_suggestions", r"/v1/members/[^/]+/recommendations/?"),
        ("study", r"/v1/(members/[^/]+/mastery|branches/.*)/?"),
        ("xapi", r"/v1/xapi/.*"),
        ("risk_batch", r"/v1/procurement/risk/batch/?"),
        ("risk", r"/v1/procurement/risk/?"),
        ("procurement", r"/v1/procurement/.*"),
        ("esg", r"/v1/(suppliers|tenders|esg)/.*"),
        ("audit_log", r"/v1/audit-log/?"),
        ("api", r"/v1(/.*)?"),
    )
)
PUBLIC_GROUP = "public"


def route_group(path: str) -> str:
    """The rate-limit group of a request path (``public`` outside ``/v1``)."""
    for group, pattern in _GROUP_PATHS:
        if pattern.fullmatch(path):
            return group
    return PUBLIC_GROUP


class RateLimiter(Protocol):
    def take(self, key: str, limit: RateLimit) -> float:
        """Take one token from ``key``'s bucket: 0 when one was there, else the seconds until
        one will be (nothing taken)."""
        ...


class InProcessRateLimiter:
    """Token buckets in memory, at most ``max_keys`` of them: beyond that the least recently
    used is dropped (it comes back full, so dropping only ever errs towards the caller)."""

    def __init__(
        self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self._max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()

    def take(self, key: str, limit: RateLimit) -> float:
        rate = limit.per_minute / 60.0  # tokens per second
        with self._lock:
            now = self._clock()
            tokens, updated = self._buckets.pop(key, (float(limit.burst), now))
            tokens = min(float(limit.burst), tokens + (now - updated) * rate)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / rate
            if wait == 0.0:
                tokens -= 1.0
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
            return wait


def _client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class RateLimitMiddleware:
    """429 ``rate_limited`` with ``Retry-After`` (whole seconds, rounded up) for a caller over
    their limit; counted in ``lodestar_http_rate_limited``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: RateLimits,
        metrics: ServiceMetrics,
        limiter: RateLimiter | None = None,
    ) -> None:
        unknown = set(limits.by_role) - set(ROLES)
        if unknown:
            raise ValueError(f"rate limits name unknown roles {sorted(unknown)}")
        self.app = app
        self.limits = limits
        self.metrics = metrics
        self.limiter: RateLimiter = limiter or InProcessRateLimiter()

    def _bucket(self, scope: Scope, group: str) -> tuple[str, RateLimit, str]:
        """(bucket key, its limit, the role for the metric label)."""
        caller = identify(scope) if is_api_path(scope) else None
        if isinstance(caller, Principal):
            limit = self.limits.for_caller(caller.role, group)
            return f"subject:{caller.subject}\x00{group}", limit, caller.role
        return f"ip:{_client_ip(scope)}", self.limits.anonymous, ANONYMOUS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limits.enabled:
            await self.app(scope, receive, send)
            return
        group = route_group(str(scope.get("path", "")))
        key, limit, role = self._bucket(scope, group)
        wait = self.limiter.take(key, limit)
        if wait > 0:
            self.metrics.rate_limited.labels(group, role).inc()
            retry_after = max(1, math.ceil(wait))
            response = error_response(
                scope,
                429,
                "rate_limited",
                f"too many requests; retry in {retry_after} s",
                headers={"Retry-After": str(retry_after)},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
