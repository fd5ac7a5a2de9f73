"""The store: one encrypted DuckDB file, its schema, and encrypted Parquet snapshots of it."""
