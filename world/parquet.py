"""Parquet partitions of a world in the standard layout, beside its standard files.

Each standard file is read by its library reader (``ingest.run.read_chunks``), chunk by chunk,
and each chunk's rows of each store table become one file ``parquet/<table>/part-<n>.parquet``
(``<n>`` from 00000, in reading order), typed by the declared schema (``store.schema``), never
by the data: a partition where a column is empty on every row has the same type as any other.
So the partitions hold exactly the rows that ``lodestar ingest`` would store (before removing
repeated keys, which a reader may yield and the store keeps first), member identifiers
pseudonymised and personal fields encrypted with the installation's keys, and a partitioned
reader (``dask.dataframe.read_parquet``, DuckDB's ``read_parquet``) takes a folder per table.

Memory holds one reader chunk at a time, whatever the size of the world. Records a reader
quarantines are counted, not written (the generated world has none).
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from core.security import PersonalData
from ingest.run import read_chunks
from store.database import declared_arrow_table
from store.schema import TABLES
from world.layout import world_paths

PARQUET_DIR = "parquet"
QUARANTINED = "quarantined records"


def write_parquet_partitions(world_dir: Path, personal: PersonalData) -> Counter[str]:
    """Write ``<world_dir>/parquet/`` from scratch; returns rows per table (and the count of
    quarantined records under ``QUARANTINED`` when there are any)."""
    out = Path(world_dir) / PARQUET_DIR
    if out.exists():
        shutil.rmtree(out)
    rows: Counter[str] = Counter()
    parts: Counter[str] = Counter()
    for kind, path in world_paths(Path(world_dir)):
        if not path.exists():
            continue
        for chunk in read_chunks(kind, path, personal):
            rows[QUARANTINED] += len(chunk.quarantined)
            for table_name, frame in chunk.tables.items():
                if frame.empty:
                    continue
                columns = [c for c in TABLES[table_name].columns if c.name in frame.columns]
                folder = out / table_name
                folder.mkdir(parents=True, exist_ok=True)
                pq.write_table(
                    declared_arrow_table(frame, columns),
                    folder / f"part-{parts[table_name]:05d}.parquet",
                )
                parts[table_name] += 1
                rows[table_name] += len(frame)
    if not rows[QUARANTINED]:
        del rows[QUARANTINED]
    return rows
