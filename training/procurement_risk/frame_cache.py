"""The feature frame, built once per snapshot and feature code, and read by later runs.

Training builds the frame of a snapshot (``training.procurement_risk.data``) and writes it to
``<snapshot>/derived/procurement-features/<key>.parquet``; a second training on the same
snapshot, and scoring, read it instead of building it again. ``key`` is a sha256 over

* the content hashes (``store.snapshot.table_content_hash``) of every table the build reads
  (``INPUT_TABLES``): from the snapshot's manifest when training, computed on the live store
  when scoring (which reads the store, not a snapshot). A frame is found only for exactly the
  rows it was built from; the other tables (alerts, audit, the study's tables) may differ;
* the feature fingerprint (``feature_fingerprint``): the source of the code that builds the
  frame (``FEATURE_SOURCES``), every ``HistoryRules`` value and the collusion detector the
  ``collusion_score`` column was computed with. A changed feature never reads a stale frame.

A frame holds each process's buyer and winning suppliers (organisation identifiers, no personal
column: contact names and telephones stay in the store as ciphertext and fingerprints), but it
is derived from encrypted tables, so it is written as they are: Parquet modular encryption
under the snapshot key, owner-only, renamed into place when complete. Pruning a snapshot
removes its frames.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from core.settings import Keyring
from features.procurement.build import OUTPUT_COLUMNS
from features.procurement.history import PROCUREMENT_TABLES, REPORTS_TABLE, HistoryRules
from features.procurement.specs import CATEGORICAL_FEATURES
from models.collusion.pyfunc import REGISTERED_MODEL as COLLUSION_MODEL
from store.snapshot import (
    SnapshotError,
    SnapshotManifest,
    list_snapshots,
    read_encrypted_parquet,
    table_content_hash,
    write_encrypted_parquet,
)

REPO = Path(__file__).resolve().parents[2]
INPUT_TABLES: tuple[str, ...] = (*PROCUREMENT_TABLES, "suppliers", REPORTS_TABLE)
"""The store tables the feature build reads."""
FEATURE_SOURCES: tuple[str, ...] = (
    "features/procurement",
    "ingest/readers/ocds.py",
    "store/queries/feedback.py",
    "models/collusion",
    "training/procurement_risk/data.py",
    "training/procurement_risk/frame_cache.py",
)
"""The code the frame depends on, relative to the repository (folders: every ``.py`` below)."""
CACHE_FOLDER = Path("derived") / "procurement-features"
CV_RULE = "cv-rule"
"""The collusion identity when no detector computes ``collusion_score``."""

_TEXT_COLUMNS = frozenset({"ocid", "buyer_id", "category", *CATEGORICAL_FEATURES})


def source_digest() -> str:
    """sha256 over the relative path and bytes of every source file of ``FEATURE_SOURCES``."""
    digest = hashlib.sha256()
    for source in FEATURE_SOURCES:
        root = REPO / source
        files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
        for path in files:
            digest.update(str(path.relative_to(REPO)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def feature_fingerprint(rules: HistoryRules, collusion: str) -> str:
    """What, besides the data, decides the frame: the feature code, ``rules`` and the
    collusion detector's identity (``CV_RULE`` or ``collusion_identity``)."""
    document = {
        "code": source_digest(),
        "rules": dataclasses.asdict(rules),
        "collusion": collusion,
        "columns": OUTPUT_COLUMNS,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def frame_key(table_hashes: Mapping[str, str], fingerprint: str) -> str:
    """The cache key of the frame of the rows ``table_hashes`` (every ``INPUT_TABLES``)
    built by the code and settings ``fingerprint``: 32 hex characters."""
    document = {"tables": {name: table_hashes[name] for name in INPUT_TABLES}, "fp": fingerprint}
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:32]


def manifest_table_hashes(manifest: SnapshotManifest) -> dict[str, str]:
    return {name: manifest.tables[name].content_sha256 for name in INPUT_TABLES}


def live_table_hashes(connection: object) -> dict[str, str]:
    """The content hashes of ``INPUT_TABLES`` on a store's connection, as a snapshot written
    now would record them (one scan of each table)."""
    return {name: table_content_hash(connection, name) for name in INPUT_TABLES}  # type: ignore[arg-type]


def frame_path(snapshot: Path, key: str) -> Path:
    return Path(snapshot) / CACHE_FOLDER / f"{key}.parquet"


def find_frame(snapshot_root: Path, key: str) -> Path | None:
    """The newest snapshot's frame of ``key`` under ``snapshot_root``, or None."""
    for snapshot in reversed(list_snapshots(snapshot_root)):
        path = frame_path(snapshot, key)
        if path.exists():
            return path
    return None


def matching_snapshot(snapshot_root: Path, table_hashes: Mapping[str, str]) -> Path | None:
    """The newest snapshot whose ``INPUT_TABLES`` hold exactly the rows of ``table_hashes``
    (where scoring files the frame it built from the store), or None."""
    for snapshot in reversed(list_snapshots(snapshot_root)):
        try:
            manifest = SnapshotManifest.read(snapshot)
        except SnapshotError:
            continue
        if all(
            name in manifest.tables and manifest.tables[name].content_sha256 == table_hashes[name]
            for name in INPUT_TABLES
        ):
            return snapshot
    return None


def _arrow_table(frame: pd.DataFrame) -> pa.Table:
    """``frame`` with declared Arrow types (never guessed from a sample of rows)."""
    arrays = []
    fields = []
    for name in OUTPUT_COLUMNS:
        column = frame[name]
        if name == "decision_date":
            kind: pa.DataType = pa.timestamp("ns")
            values = pa.array(column.to_numpy(dtype="datetime64[ns]"), type=kind)
        elif name == "supplier_ids":
            kind = pa.list_(pa.string())
            values = pa.array([[str(s) for s in ids] for ids in column], type=kind)
        elif name in _TEXT_COLUMNS:
            kind = pa.string()
            values = pa.array(
                [value if isinstance(value, str) else None for value in column], type=kind
            )
        else:
            kind = pa.float64()
            values = pa.array(column.to_numpy(dtype=np.float64), type=kind, from_pandas=True)
        arrays.append(values)
        fields.append(pa.field(name, kind))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def write_frame(frame: pd.DataFrame, path: Path, keyring: Keyring) -> None:
    """Write ``frame`` (rows of ``build_feature_frame``) to ``path``, encrypted."""
    write_encrypted_parquet(_arrow_table(frame), path, keyring)


def read_frame(path: Path, keyring: Keyring) -> pd.DataFrame:
    """The frame ``write_frame`` wrote: the same columns, types and values as the frame
    written (text ``None`` where missing, ``supplier_ids`` lists, float64 features)."""
    table = read_encrypted_parquet(path, keyring)
    data: dict[str, object] = {}
    for name in OUTPUT_COLUMNS:
        column = table.column(name)
        if name == "decision_date":
            data[name] = column.to_numpy().astype("datetime64[ns]")
        elif name == "supplier_ids":
            values = np.empty(len(column), dtype=object)
            values[:] = [list(ids) for ids in column.to_pylist()]
            data[name] = values
        elif name in _TEXT_COLUMNS:
            values = np.empty(len(column), dtype=object)
            values[:] = column.to_pylist()
            data[name] = values
        else:
            data[name] = column.to_numpy(zero_copy_only=False).astype(np.float64)
    return pd.DataFrame(data, columns=OUTPUT_COLUMNS, copy=False)


def collusion_identity(client: Any, version: str | None) -> str:
    """What identifies the collusion detector of registered version ``version`` (its run,
    unique across registries); ``CV_RULE`` for None."""
    if version is None:
        return CV_RULE
    run_id = client.get_model_version(COLLUSION_MODEL, version).run_id
    return f"{COLLUSION_MODEL} v{version} run {run_id}"
