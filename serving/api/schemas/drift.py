"""Response body of the drift route (``serving.api.routes.drift``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from serving.live.drift import AlertPrecision, ModelDrift


class FeatureDriftOut(BaseModel):
    feature: str
    psi: float


class ModelDriftOut(BaseModel):
    """One model's live window against the reference saved with the model version."""

    model: str
    version: str = Field(description="the model version the window's rows were scored by")
    window_rows: int = Field(description="scored rows in the window")
    window_capacity: int
    score_psi: float | None = Field(description="None while the window is empty")
    top_features: list[FeatureDriftOut] = Field(description="largest PSI first")
    warning: bool = Field(description="a PSI above the warning level, on enough rows")
    warning_psi: float
    reference_rows: int | None
    reference_data_version: str | None = Field(
        description="data version of the training data the reference was binned from"
    )
    reason: str | None = Field(description="why there are no figures (no reference saved)")

    @classmethod
    def of(cls, drift: ModelDrift, *, top: int, warning_psi: float) -> ModelDriftOut:
        return cls(
            model=drift.model,
            version=drift.version,
            window_rows=drift.rows,
            window_capacity=drift.capacity,
            score_psi=drift.score_psi,
            top_features=[FeatureDriftOut(feature=f.feature, psi=f.psi) for f in drift.features][
                :top
            ],
            warning=drift.warning,
            warning_psi=warning_psi,
            reference_rows=drift.reference_rows,
            reference_data_version=drift.data_version,
            reason=drift.reason,
        )


class AlertPrecisionOut(BaseModel):
    """Realised precision of one model version's alerts at one level (``all``: every level)."""

    model: str
    version: str
    level: str
    alerts: int
    reviewed: int = Field(description="confirmed or dismissed by a reviewer")
    confirmed: int
    needs_information: int
    precision: float | None = Field(description="confirmed / reviewed; None before any review")

    @classmethod
    def of(cls, row: AlertPrecision) -> AlertPrecisionOut:
        return cls(
            model=row.model,
            version=row.version,
            level=row.level,
            alerts=row.alerts,
            reviewed=row.reviewed,
            confirmed=row.confirmed,
            needs_information=row.needs_information,
            precision=row.precision,
        )


class DriftReportOut(BaseModel):
    models: list[ModelDriftOut] = Field(description="models that scored since the start")
    alert_precision: list[AlertPrecisionOut]
