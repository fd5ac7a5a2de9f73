"""Names, options and errors of the procurement risk job."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from training.cli import COMMAND_LINE, HELP

EXPERIMENT = "procurement-risk"
REGISTERED_MODEL = "procurement-risk"


MONOTONE_INCREASING_FEATURES: tuple[str, ...] = (
    "unit_price_to_category_median_180d",
    "unit_price_to_spec_median_180d",
)
"""Features the risk may only rise with (a monotone constraint in LightGBM): a price far
above its category's median never makes a process less suspicious. Those absent from
``FEATURES`` are skipped."""


PIP_PACKAGES = ("lodestar", "lightgbm", "scikit-learn", "pandas", "numpy", "mlflow")


class TrainingError(RuntimeError):
    """Training cannot run on this data (no labels in a split, one class only ...)."""


class ScoringError(RuntimeError):
    """Batch scoring cannot run (no champion, store busy ...)."""


ERRORS: tuple[type[Exception], ...] = (TrainingError, ScoringError)
"""What ``train`` and ``score`` raise when they cannot run: exit code 1, not a traceback."""


@dataclass(frozen=True)
class TrainingOptions:
    """Everything that decides a training run besides the data.

    Model size: exact tree SHAP costs grow with trees × leaves × depth², and every warning is
    explained, so the defaults are a small model (100 trees of 7 leaves).
    """

    review_capacity: float = 0.03
    n_estimators: int = 100
    num_leaves: int = 7
    learning_rate: float = 0.1
    min_data_in_leaf: int = 20
    calibration: Literal["platt", "isotonic"] = "platt"
    train_end: date | None = field(
        default=None, metadata={HELP: "first day not trained on (YYYY-MM-DD)"}
    )
    calibration_end: date | None = field(
        default=None, metadata={HELP: "first test day (YYYY-MM-DD)"}
    )
    label_cutoff: date | None = field(
        default=None, metadata={HELP: "train/calibrate only on labels known before this"}
    )
    min_improvement: float = 0.0
    seed: int = 0
    num_threads: int = field(default=1, metadata={COMMAND_LINE: False})

    def lightgbm_params(self, feature_names: Sequence[str]) -> dict[str, Any]:
        monotone = [1 if name in MONOTONE_INCREASING_FEATURES else 0 for name in feature_names]
        return {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": 0.9,
            "lambda_l2": 1.0,
            "monotone_constraints": monotone,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.num_threads,
            "verbose": -1,
        }
