"""Response bodies of the ingest routes (``/v1/ingest/...``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from serving.api.schemas.common import UtcDateTime
from serving.live.ingest import ServiceIngest


class LivePushOut(BaseModel):
    """What the stored rows did to the live state, summed over the run's chunks."""

    pushes: int = Field(description="chunks whose new rows were pushed")
    procurement: dict[str, int] = Field(
        description="processes new, changed (an updated release replaced them) and unchanged "
        "in the live history; alerts written, refreshed and withdrawn"
    )
    model_version: str | None = Field(description="the champion version that scored them")
    commit_to_alert_seconds: float | None = Field(
        description="ingestion to warning, the issue's 'within a second of its ingestion': "
        "the slowest chunk's time from its store commit (its processes are then ingested) "
        "to its alerts committed, so every process of the run waited at most this long; "
        "None when nothing was scored"
    )
    push_to_alert_seconds: float | None = Field(
        description="slowest chunk: from its live push's start (after the commit and the "
        "read-back of its processes) to its alerts committed"
    )
    phase_seconds: dict[str, float] = Field(
        description="seconds summed over the chunks: read (the reader), store (each chunk's "
        "transaction, waiting for the store included), reload (reading back the processes a "
        "chunk touched), online_update (the live history), score (features, model, "
        "explanations), alert_write (the alerts' transaction, waiting included), "
        "other_sources (the other online sources' pushes)"
    )
    others: dict[str, Any] = Field(description="each other online source's summary, by name")
    unrouted_tables: list[str] = Field(description="tables no live state consumes")
    failed: list[str] = Field(description="pushes that failed (logged; the rows are stored)")


class IngestOut(BaseModel):
    """One file pushed through the service: ``records_in == accepted + quarantined``."""

    run_id: str = Field(description="the run's row in ingest_runs")
    kind: str
    source_file: str = Field(description="the file name the rows and quarantine carry")
    source_sha256: str
    records_in: int
    accepted: int
    quarantined: int
    new_rows: int = Field(description="rows not already stored (0 for a file posted again)")
    encoding: str | None = Field(description="text encoding the reader detected (CSV files)")
    warnings: dict[str, int] = Field(description="tolerated oddities: message -> count")
    seconds: float
    chunks: int
    reader_ran_in: Literal["thread"] = Field(
        description="where the reader ran: a worker thread beside the requests"
    )
    live: LivePushOut

    @classmethod
    def of(cls, run: ServiceIngest) -> IngestOut:
        report, live = run.report, run.live
        return cls(
            run_id=report.run_id,
            kind=report.kind,
            source_file=report.source_file,
            source_sha256=report.source_sha256,
            records_in=report.records_in,
            accepted=report.accepted,
            quarantined=report.quarantined,
            new_rows=report.new_rows,
            encoding=report.encoding,
            warnings=dict(report.warnings),
            seconds=report.seconds,
            chunks=run.chunks,
            reader_ran_in="thread",
            live=LivePushOut(
                pushes=live.pushes,
                procurement=live.procurement,
                model_version=live.model_version,
                commit_to_alert_seconds=live.commit_to_alert_seconds,
                push_to_alert_seconds=live.push_to_alert_seconds,
                phase_seconds={name: round(value, 6) for name, value in live.phase_seconds.items()},
                others=live.others,
                unrouted_tables=sorted(live.unrouted_tables),
                failed=live.failed,
            ),
        )


class IngestRunOut(BaseModel):
    """A row of ``ingest_runs`` (command line and service runs alike)."""

    run_id: str
    reader: str
    source_file: str
    source_sha256: str
    records_in: int
    accepted: int
    quarantined: int
    new_rows: int
    started_at: UtcDateTime
    seconds: float


class IngestRunList(BaseModel):
    runs: list[IngestRunOut]
