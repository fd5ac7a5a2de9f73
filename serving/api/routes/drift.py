"""Drift of live traffic and realised alert precision, for the admin."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from serving.api.schemas.drift import AlertPrecisionOut, DriftReportOut, ModelDriftOut
from serving.deps import AdminDep
from serving.live.drift import DriftMonitor

router = APIRouter(tags=["admin"])


def get_drift_monitor(request: Request) -> DriftMonitor:
    monitor: DriftMonitor = request.app.state.drift
    return monitor


DriftMonitorDep = Annotated[DriftMonitor, Depends(get_drift_monitor)]


@router.get("/admin/drift", response_model=DriftReportOut)
def drift_report(
    _caller: AdminDep,
    monitor: DriftMonitorDep,
    top: Annotated[int, Query(ge=1, le=1000, description="inputs shown per model")] = 10,
) -> DriftReportOut:
    """Per model: the live window's PSI against the training reference (score and the most
    drifted inputs) and the warning state; per model version and warning level: the share
    of reviewed alerts that reviewers confirmed. Figures are at most a few seconds old."""
    return DriftReportOut(
        models=[
            ModelDriftOut.of(drift, top=top, warning_psi=monitor.warning_psi)
            for drift in monitor.drift()
        ],
        alert_precision=[AlertPrecisionOut.of(row) for row in monitor.precision()],
    )
