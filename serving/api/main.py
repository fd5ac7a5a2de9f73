"""Gathers the routers: health at the root, the API under ``/v1``."""

from __future__ import annotations

from fastapi import APIRouter

from serving.api.routes import (
    admin,
    drift,
    esg,
    feedback,
    health,
    ingest,
    learning,
    members,
    party,
    procurement,
    retrain,
    snapshots,
)
from serving.platform.errors import SafeJSONResponse, documented

# What any /v1 route may answer; each route adds its own (404, 409, 400 and 415 with a body).
V1_ERRORS = documented(401, 403, 413, 422, 429, 503)

v1_router = APIRouter(prefix="/v1", responses=V1_ERRORS, default_response_class=SafeJSONResponse)
v1_router.include_router(members.router)
v1_router.include_router(admin.router)
v1_router.include_router(snapshots.router)
v1_router.include_router(drift.router)
v1_router.include_router(retrain.router)
v1_router.include_router(procurement.router)
v1_router.include_router(esg.router)
v1_router.include_router(learning.router)
v1_router.include_router(party.router)
v1_router.include_router(feedback.router)
v1_router.include_router(ingest.router)

api_router = APIRouter(default_response_class=SafeJSONResponse)
api_router.include_router(health.router)
api_router.include_router(v1_router)
