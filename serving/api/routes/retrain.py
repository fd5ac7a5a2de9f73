"""Retraining for the admin: start one now, read the last one's status."""

from __future__ import annotations

from fastapi import APIRouter, Request

from serving.api.schemas.retrain import RetrainRequest, RetrainStatusOut
from serving.deps import AdminDep, JsonBodyDep
from serving.live.retrain import (
    JOBS,
    RetrainBusyError,
    Retrainer,
    RetrainOffError,
    RetrainUnavailableError,
)
from serving.platform.errors import ApiError, documented

router = APIRouter(tags=["admin"])


def _retrainer(request: Request) -> Retrainer:
    retrainer: Retrainer = request.app.state.retrain
    return retrainer


@router.post(
    "/admin/retrain",
    response_model=RetrainStatusOut,
    status_code=202,
    responses=documented(400, 409, 415),
)
def start_retrain(
    _caller: AdminDep,
    _json: JsonBodyDep,
    request: Request,
    body: RetrainRequest | None = None,
) -> RetrainStatusOut:
    """Snapshot the store and retrain the chosen models (default all) in a low-priority
    process, each through its champion gate; a promoted model is swapped in by the champion
    watcher. 409 while a retrain is running."""
    models = list(body.models) if body is not None and body.models else list(JOBS)
    try:
        started = _retrainer(request).start(models, "admin")
    except RetrainBusyError as error:
        raise ApiError(409, "retrain_in_progress", str(error)) from None
    except RetrainOffError as error:
        raise ApiError(409, "retraining_off", str(error)) from None
    except RetrainUnavailableError as error:
        raise ApiError(503, "service_unavailable", str(error)) from None
    return RetrainStatusOut.of(started)


@router.get("/admin/retrain", response_model=RetrainStatusOut)
def retrain_status(_caller: AdminDep, request: Request) -> RetrainStatusOut:
    """The last retrain: running or not, when, each job's exit code and gate verdict, and the
    last lines of output."""
    return RetrainStatusOut.of(_retrainer(request).status())
