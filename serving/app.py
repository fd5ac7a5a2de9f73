"""The app factory.

``create_app(settings)`` builds the app without touching disk or keys; the lifespan resolves
the keyring, opens the store and builds the personal-data helpers, starts the snapshot
schedule, and stops it (waiting for a snapshot being written) before closing the store on
shutdown. If that fails the app still starts: ``/healthz`` answers, ``/readyz`` says why it is
not ready (503), and every authenticated route answers 503.

``/docs`` (Swagger UI), ``/redoc`` and ``/openapi.json`` stay public: they describe the API
and hold no data, and the integrators who need them have no token yet. The pages' scripts and
styles are served by the service itself (``/static-offline-docs``, from the
``fastapi-offline`` package), not from a CDN: the mine sites' networks have no internet.

Middleware, outermost first: request id and last-resort 500, metrics, audit log (every
request, refused ones included), rate limits, authentication of ``/v1`` (before the body is
read or the request routed), body limit.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from serving.api.main import api_router
from serving.audit import AuditMiddleware
from serving.auth import AuthenticationMiddleware
from serving.context import RequestContextMiddleware
from serving.errors import install_error_handlers
from serving.esg import EsgState, load_esg
from serving.learning import LearningState, load_learning
from serving.limits import BodyLimitMiddleware
from serving.metrics import MetricsMiddleware, ServiceMetrics
from serving.procurement import ProcurementState, load_procurement
from serving.ratelimit import RateLimitMiddleware
from serving.runtime import Runtime, open_runtime
from serving.settings import ServiceSettings
from serving.snapshots import SnapshotScheduler, SnapshotWriter


def freeze_startup_objects() -> None:
    """Move everything loaded at startup (models, the procurement history: millions of
    objects) out of the garbage collector's sight. They live as long as the process; left
    in, every full collection walks them all, a pause of over 10 ms in the middle of some
    request."""
    gc.collect()
    gc.freeze()


def create_app(settings: ServiceSettings) -> FastAPI:
    metrics = ServiceMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await anyio.to_thread.run_sync(open_runtime, settings)
        app.state.runtime = runtime
        app.state.procurement = await anyio.to_thread.run_sync(load_procurement, settings, runtime)
        app.state.esg = await anyio.to_thread.run_sync(load_esg, settings, runtime)
        app.state.learning = await anyio.to_thread.run_sync(load_learning, settings, runtime)
        # ingestion calls each with {table: new rows}; the state is looked up per call, so a
        # model swap that replaces app.state.esg or app.state.learning is followed
        app.state.online_push = [
            lambda frames: app.state.esg.push(frames),
            lambda frames: app.state.learning.push(frames),
        ]
        app.state.snapshots = SnapshotWriter.for_runtime(runtime, settings)
        scheduler = SnapshotScheduler(app.state.snapshots, settings.snapshot_interval_hours)
        freeze_startup_objects()
        scheduler.start()
        try:
            yield
        finally:
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
    app.state.runtime = Runtime(not_ready_reason="starting")
    app.state.procurement = ProcurementState(unavailable_reason="starting")
    app.state.esg = EsgState(unavailable_reason="starting")
    app.state.learning = LearningState(unavailable_reason="starting")
    install_error_handlers(app)
    app.include_router(api_router)
    # add_middleware puts each new middleware outside the previous ones.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(AuthenticationMiddleware)
    app.add_middleware(RateLimitMiddleware, limits=settings.rate_limits, metrics=metrics)
    app.add_middleware(AuditMiddleware, metrics=metrics)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestContextMiddleware)
    return app
