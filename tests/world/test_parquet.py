"""Parquet partitions of a world hold the rows ingestion stores, typed by the schema."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq

from core.security import PersonalData
from ingest.run import ingest_file
from store.database import ARROW_TYPES, Store
from store.schema import TABLES
from world.parquet import PARQUET_DIR, write_parquet_partitions

FILES = (
    ("members", "learning/members.csv"),
    ("supplier_register", "suppliers/register.csv"),
    ("supplier_events", "suppliers/events.csv"),
    ("ocds", "procurement/releases.jsonl"),
)


def test_partitions_hold_the_rows_ingestion_stores(
    tmp_path: Path, small_world: tuple[Path, Path], store: Store, personal: PersonalData
) -> None:
    world = tmp_path / "world"
    for _, relative in FILES:
        (world / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(small_world[0] / relative, world / relative)
    rows = write_parquet_partitions(world, personal)
    for kind, relative in FILES:
        ingest_file(store, personal, kind, world / relative)
    assert {"members", "suppliers", "supplier_events", "processes", "awards"} <= set(rows)
    for table_name, count in rows.items():
        folder = world / PARQUET_DIR / table_name
        assert sorted(p.name for p in folder.iterdir())[0] == "part-00000.parquet"
        table = pq.read_table(folder)
        assert table.num_rows == count == store.count(table_name)
        declared = {c.name: ARROW_TYPES.get(c.sql_type) for c in TABLES[table_name].columns}
        for field in table.schema:
            assert declared[field.name] in (None, field.type), (table_name, field.name)
