"""Prometheus metrics with one registry per app (tests build many apps in one process).

Requests are labelled by the route *template* (``/v1/members/{employee_no}``), never the raw
path: raw paths would put employee numbers into metrics and make label cardinality unbounded.
Requests that match no route are labelled ``unmatched``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from serving.live.drift import DriftMonitor

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


# --------------------------------------------------------------------------------------------
# Drift and realised precision (``serving.live.drift``), read from the monitor at each scrape


class DriftCollector(Collector):
    """Gauges of drift (``serving.live.drift.DriftMonitor``) and realised alert precision.

    ``lodestar_drift_psi{model,feature}``: PSI against the training reference of the score
    (``feature="score"``) and of the ``top_features`` inputs that drifted most (a bounded
    label set); ``lodestar_drift_warning{model}``: 1 when the model warns of drift;
    ``lodestar_drift_window_rows{model}``; ``lodestar_alert_precision{model,version,level}``
    (confirmed / reviewed; no sample until a reviewer judged one) and
    ``lodestar_alert_reviewed{model,version,level}``. The monitor recomputes at most every
    few seconds, so a scrape costs a lookup most of the time."""

    def __init__(self, monitor: DriftMonitor, *, top_features: int) -> None:
        self.monitor = monitor
        self.top_features = top_features

    @staticmethod
    def _families() -> dict[str, GaugeMetricFamily]:
        return {
            "psi": GaugeMetricFamily(
                "lodestar_drift_psi",
                "PSI of live traffic against the model's training reference, by input "
                "(feature=score for the score)",
                labels=("model", "feature"),
            ),
            "warning": GaugeMetricFamily(
                "lodestar_drift_warning",
                "1 when the score's or any input's PSI exceeds the drift warning level",
                labels=("model",),
            ),
            "rows": GaugeMetricFamily(
                "lodestar_drift_window_rows",
                "Scored rows in the model's drift window",
                labels=("model",),
            ),
            "precision": GaugeMetricFamily(
                "lodestar_alert_precision",
                "Confirmed share of the alerts reviewers confirmed or dismissed",
                labels=("model", "version", "level"),
            ),
            "reviewed": GaugeMetricFamily(
                "lodestar_alert_reviewed",
                "Alerts reviewers confirmed or dismissed",
                labels=("model", "version", "level"),
            ),
        }

    def describe(self) -> Iterable[Metric]:
        return list(self._families().values())

    def collect(self) -> Iterable[Metric]:
        families = self._families()
        for model in self.monitor.drift():
            families["rows"].add_metric([model.model], model.rows)
            if model.score_psi is None:
                continue
            families["warning"].add_metric([model.model], 1.0 if model.warning else 0.0)
            families["psi"].add_metric([model.model, "score"], model.score_psi)
            for feature in model.features[: self.top_features]:
                families["psi"].add_metric([model.model, feature.feature], feature.psi)
        for row in self.monitor.precision():
            labels = [row.model, row.version, row.level]
            families["reviewed"].add_metric(labels, row.reviewed)
            if row.precision is not None:
                families["precision"].add_metric(labels, row.precision)
        return list(families.values())


def register_drift_gauges(
    metrics: ServiceMetrics, monitor: DriftMonitor, *, top_features: int
) -> None:
    metrics.registry.register(DriftCollector(monitor, top_features=top_features))
