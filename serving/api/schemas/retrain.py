"""Request and response bodies of the retrain routes (``serving.api.routes.retrain``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from serving.api.schemas.common import UtcDateTime
from serving.live.retrain import RetrainStatus

RetrainModel = Literal["procurement-risk", "supplier-esg", "mastery", "study-recommender"]


class RetrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[RetrainModel] | None = Field(
        default=None,
        min_length=1,
        max_length=4,
        description="the registered models to retrain (default: all four)",
    )


class RetrainJobOut(BaseModel):
    model: str
    exit_code: int = Field(description="0: trained, registered and gated")
    version: str | None = Field(default=None, description="the version it registered")
    promoted: bool | None = Field(default=None, description="whether the gate made it champion")
    gate_reason: str | None = None


class RetrainStatusOut(BaseModel):
    """The last retrain; ``running`` while it runs."""

    running: bool
    runs: int = Field(description="retrains started since the service started")
    trigger: Literal["admin", "schedule", "verdicts"] | None = None
    models: list[str]
    started_at: UtcDateTime | None = None
    finished_at: UtcDateTime | None = None
    snapshot: str | None = Field(default=None, description="the snapshot trained on")
    exit_code: int | None = Field(
        default=None, description="0 when every job ended with 0; -1 when the retrain failed"
    )
    jobs: list[RetrainJobOut]
    error: str | None = None
    output_tail: list[str] = Field(description="the last lines of the jobs' output")

    @classmethod
    def of(cls, status: RetrainStatus) -> RetrainStatusOut:
        return cls(
            running=status.running,
            runs=status.runs,
            trigger=status.trigger,  # type: ignore[arg-type]
            models=list(status.models),
            started_at=status.started_at,
            finished_at=status.finished_at,
            snapshot=status.snapshot,
            exit_code=status.exit_code,
            jobs=[RetrainJobOut(**vars(job)) for job in status.jobs],
            error=status.error,
            output_tail=list(status.output_tail),
        )
