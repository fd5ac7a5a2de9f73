"""The bid-rigging detector's jobs: within-file cross-validation (``cv``), leave-one-market-out
transfer evaluation, fitting on labelled files and scoring others, and registration."""

from training.collusion.cli import main
from training.collusion.cv import CollusionDataError, DataSet, load_data_set

__all__ = ["CollusionDataError", "DataSet", "load_data_set", "main"]
