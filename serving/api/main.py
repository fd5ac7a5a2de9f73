"""Gathers the routers: health at the root, the API under ``/v1``."""

from __future__ import annotations

from fastapi import APIRouter

from serving.api.routes import admin, esg, health, learning, members, procurement
from serving.errors import ErrorResponse

_AUTH_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse, "description": "missing, invalid or expired token"},
    403: {"model": ErrorResponse, "description": "the caller's role may not use this"},
    422: {"model": ErrorResponse, "description": "invalid request"},
}

v1_router = APIRouter(prefix="/v1", responses=_AUTH_ERRORS)
v1_router.include_router(members.router)
v1_router.include_router(admin.router)
v1_router.include_router(procurement.router)
v1_router.include_router(esg.router)
v1_router.include_router(learning.router)

api_router = APIRouter()
api_router.include_router(health.router)
api_router.include_router(v1_router)
