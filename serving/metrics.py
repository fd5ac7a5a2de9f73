"""Prometheus metrics with one registry per app (tests build many apps in one process).

Requests are labelled by the route *template* (``/v1/members/{employee_no}``), never the raw
path: raw paths would put employee numbers into metrics and make label cardinality unbounded.
Requests that match no route are labelled ``unmatched``.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED_ROUTE = "unmatched"


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "lodestar_http_requests",
            "HTTP requests answered, by method, route template and status code",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "lodestar_http_request_duration_seconds",
            "Time from request start to the end of the response, by method and route template",
            ("method", "route"),
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )
        self.rate_limited = Counter(
            "lodestar_http_rate_limited",
            "Requests refused with 429, by rate-limit route group and the caller's role "
            "(anonymous: no valid credential, limited per client address)",
            ("group", "role"),
            registry=self.registry,
        )
        self.audit_write_failures = Counter(
            "lodestar_audit_write_failures",
            "Audit-log entries that could not be written",
            registry=self.registry,
        )
        self.model_loaded_info = Gauge(
            "lodestar_model_loaded_info",
            "1 for the version of each registered model the service answers with",
            ("model", "version"),
            registry=self.registry,
        )
        self.model_loaded_timestamp = Gauge(
            "lodestar_model_loaded_timestamp_seconds",
            "When the version answering for each model was loaded (Unix seconds, UTC)",
            ("model",),
            registry=self.registry,
        )
        self.model_load_failures = Counter(
            "lodestar_model_load_failures",
            "Loads of a moved champion that failed (the previous version kept answering)",
            ("model",),
            registry=self.registry,
        )
        self._loaded_versions: dict[str, str] = {}
        self._loaded_lock = threading.Lock()

    def record_model_loaded(self, model: str, version: str, loaded_at: datetime) -> None:
        """Show ``version`` as the one answering for ``model`` (the previous version's
        series goes: one series per model)."""
        with self._loaded_lock:
            previous = self._loaded_versions.get(model)
            if previous is not None and previous != version:
                self.model_loaded_info.remove(model, previous)
            self._loaded_versions[model] = version
            self.model_loaded_info.labels(model, version).set(1)
            self.model_loaded_timestamp.labels(model).set(loaded_at.timestamp())


_PATH_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def route_template(scope: Scope) -> str:
    """The full template of the matched route, e.g. ``/v1/members/{employee_no}``.

    ``scope["route"].path`` is relative to the router that declared it (prefixes given at
    ``include_router`` are not in it), so the literal prefix is taken from the request path:
    render the route's template with the path parameters and cut it off the end.
    """
    path = getattr(scope.get("route"), "path", None)
    if not isinstance(path, str):
        return UNMATCHED_ROUTE
    params = scope.get("path_params") or {}
    rendered = _PATH_PARAM.sub(lambda match: str(params.get(match.group(1), "")), path)
    request_path = str(scope.get("path", ""))
    if rendered and request_path.endswith(rendered):
        return request_path[: len(request_path) - len(rendered)] + path
    return path


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            method = str(scope.get("method", ""))
            route = route_template(scope)
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)
