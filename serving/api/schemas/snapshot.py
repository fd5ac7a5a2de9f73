"""Response bodies of the snapshot routes (``serving.api.routes.snapshots``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from store.snapshot import SnapshotManifest


class SnapshotOut(BaseModel):
    """One snapshot: where it is (pass ``path`` to a training job's ``--snapshot``), when it
    was taken and what it holds."""

    name: str = Field(description="folder name: the UTC time it was taken")
    path: str = Field(description="folder on the service's machine")
    created_at: datetime
    data_version: str = Field(description="sha256 over every table's content hash")
    schema_version: str = Field(description="hash of the declared table schema")
    rows: dict[str, int] = Field(description="rows per table")

    @classmethod
    def of(cls, manifest: SnapshotManifest) -> SnapshotOut:
        return cls(
            name=manifest.path.name,
            path=str(manifest.path),
            created_at=datetime.fromisoformat(manifest.created_at),
            data_version=manifest.data_version,
            schema_version=manifest.schema_version,
            rows=manifest.row_counts,
        )


class SnapshotList(BaseModel):
    snapshots: list[SnapshotOut] = Field(description="newest first")
