"""The ``lodestar`` command: keys, the demo world, ingestion, snapshots, the store summary."""
