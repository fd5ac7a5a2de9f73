"""The app factory.

``create_app(settings)`` builds the app without touching disk or keys; the lifespan resolves
the keyring, opens the store and builds the personal-data helpers, loads the models, starts
the snapshot schedule, the champion watcher (``serving.live.swap``) and the retrain schedule
(``serving.live.retrain``), and stops them (waiting for a snapshot being written or a model being
loaded; a training process under way is ended) before closing the store on shutdown. If
that fails the app still starts: ``/healthz`` answers, ``/readyz`` says why it is not ready
(503), and every authenticated route answers 503.

``/docs`` (Swagger UI), ``/redoc`` and ``/openapi.json`` stay public: they describe the API
and hold no data, and the integrators who need them have no token yet. The pages' scripts and
styles are served by the service itself (``/static-offline-docs``, from the
``fastapi-offline`` package), not from a CDN: the mine sites' networks have no internet.

Middleware, outermost first: request id and last-resort 500, metrics, audit log (every
request, refused ones included), rate limits, authentication of ``/v1`` (before the body is
read or the request routed), body limit, the web console's security headers (``/console``,
``serving.console``: its pages sign people in with a password and a session cookie).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from serving.api.main import api_router
from serving.api.routes.ingest import INGEST_PATH_PREFIX
from serving.console.mount import install_console
from serving.jobs.esg import EsgState, load_esg
from serving.jobs.feedback import load_feedback
from serving.jobs.learning import LearningState, load_learning
from serving.jobs.party import AssessmentCache
from serving.jobs.procurement import ProcurementState, load_procurement
from serving.live.drift import DriftMonitor
from serving.live.drift import install as install_drift_monitor
from serving.live.drift import uninstall as uninstall_drift_monitor
from serving.live.retrain import Retrainer, RetrainScheduler
from serving.live.snapshots import SnapshotScheduler, SnapshotWriter
from serving.live.swap import ChampionWatcher, ModelBoard
from serving.platform.audit import AuditMiddleware
from serving.platform.auth import AuthenticationMiddleware
from serving.platform.context import RequestContextMiddleware
from serving.platform.errors import install_error_handlers
from serving.platform.limits import BodyLimitMiddleware
from serving.platform.metrics import MetricsMiddleware, ServiceMetrics, register_drift_gauges
from serving.platform.ratelimit import RateLimitMiddleware
from serving.runtime import Runtime, open_runtime
from serving.settings import ServiceSettings


def freeze_startup_objects() -> None:
    """Move everything loaded at startup (models, the procurement history: millions of
    objects) out of the garbage collector's sight. They live as long as the process; left
    in, every full collection walks them all, a pause in the middle of some request."""
    gc.collect()
    gc.freeze()


def create_app(settings: ServiceSettings) -> FastAPI:
    metrics = ServiceMetrics()
    drift = DriftMonitor(
        window_size=settings.drift_window,
        warning_psi=settings.drift_warning_psi,
        min_rows=settings.drift_min_rows,
        refresh_seconds=settings.drift_refresh_seconds,
    )
    register_drift_gauges(metrics, drift, top_features=settings.drift_metrics_features)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await anyio.to_thread.run_sync(open_runtime, settings)
        app.state.runtime = runtime
        app.state.procurement = await anyio.to_thread.run_sync(load_procurement, settings, runtime)
        app.state.esg = await anyio.to_thread.run_sync(load_esg, settings, runtime)
        app.state.learning = await anyio.to_thread.run_sync(load_learning, settings, runtime)
        app.state.feedback = await anyio.to_thread.run_sync(
            load_feedback, settings.feedback, settings.resolved_mlflow_tracking_uri
        )
        # ingestion calls each with {table: new rows}; the state is looked up per call, so a
        # model swap that replaces app.state.esg or app.state.learning is followed
        app.state.online_push = [
            lambda frames: app.state.esg.push(frames),
            lambda frames: app.state.learning.push(frames),
            app.state.party_assessment.push,
        ]
        app.state.snapshots = SnapshotWriter.for_runtime(runtime, settings)
        scheduler = SnapshotScheduler(app.state.snapshots, settings.snapshot_interval_hours)
        drift.store = runtime.store
        install_drift_monitor(drift)
        app.state.models = ModelBoard.of(app.state, settings, metrics)
        app.state.watcher = watcher = ChampionWatcher(
            app.state, settings, runtime, app.state.models
        )
        app.state.retrain = Retrainer.for_app(app.state.snapshots, settings)
        retrain_schedule = RetrainScheduler.for_runtime(app.state.retrain, runtime, settings)
        app.state.retrain_schedule = retrain_schedule
        freeze_startup_objects()
        scheduler.start()
        watcher.start()
        retrain_schedule.start()
        try:
            yield
        finally:
            uninstall_drift_monitor(drift)
            await anyio.to_thread.run_sync(retrain_schedule.stop)
            await anyio.to_thread.run_sync(app.state.retrain.stop)
            await anyio.to_thread.run_sync(watcher.stop)
            await anyio.to_thread.run_sync(scheduler.stop)
            await anyio.to_thread.run_sync(runtime.close)

    app = FastAPIOffline(
        title="Lodestar",
        summary="Study suggestions, procurement risk warnings and supplier ESG screening.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.drift = drift
    app.state.runtime = Runtime(not_ready_reason="starting")
    app.state.procurement = ProcurementState(unavailable_reason="starting")
    app.state.esg = EsgState(unavailable_reason="starting")
    app.state.learning = LearningState(unavailable_reason="starting")
    app.state.party_assessment = AssessmentCache()
    app.state.models = ModelBoard(metrics)
    app.state.retrain = Retrainer(None, settings)
    install_error_handlers(app)
    app.include_router(api_router)
    install_console(app, settings.console)
    # add_middleware puts each new middleware outside the previous ones.
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        path_limits={INGEST_PATH_PREFIX: settings.ingest_max_bytes},
    )
    app.add_middleware(AuthenticationMiddleware)
    app.add_middleware(RateLimitMiddleware, limits=settings.rate_limits, metrics=metrics)
    app.add_middleware(AuditMiddleware, metrics=metrics)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestContextMiddleware)
    return app
