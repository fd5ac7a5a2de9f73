"""The live loop: ingestion, snapshots, champion swaps, retraining and drift while running."""
