"""Time split (``default_split``), on ``decision_date``: the last three months of the data are
the test months, the month before them calibrates (Platt scaling by default) and sets the
warning thresholds, everything earlier trains. On the 2025 demo world: train January–August,
calibrate September, test October–December.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from training.procurement_risk.options import TrainingError

TEST_MONTHS = 3
CALIBRATION_MONTHS = 1


@dataclass(frozen=True)
class TimeSplit:
    """Train: decided before ``train_end``; calibrate: from ``train_end`` to before
    ``calibration_end``; test: from ``calibration_end`` on; a process without a decision date
    is ``undated`` and in no part."""

    train_end: date
    calibration_end: date

    def part(self, decision_dates: pd.Series) -> pd.Series:
        dates = pd.to_datetime(decision_dates)
        return pd.Series(
            np.select(
                [
                    dates.isna(),
                    dates < pd.Timestamp(self.train_end),
                    dates < pd.Timestamp(self.calibration_end),
                ],
                ["undated", "train", "calibration"],
                default="test",
            ),
            index=decision_dates.index,
        )


FULL_MONTH_SHARE = 0.5
"""A month counts as part of the data's span when it holds at least this share of the median
month's processes; sparser trailing months (tenders whose deadline is after the snapshot) are
tested with the last full months but do not move the split."""


def default_split(decision_dates: pd.Series) -> TimeSplit:
    """The last ``TEST_MONTHS`` full calendar months of the data (and any sparse months after
    them) test, the ``CALIBRATION_MONTHS`` before calibrate, everything earlier trains. On
    the 2025 demo world: train January–August, calibrate September, test October–December
    (with the few tenders whose deadline falls in 2026)."""
    months = pd.to_datetime(decision_dates).dropna().dt.to_period("M")
    if months.empty:
        raise TrainingError("no process has a decision date")
    counts = months.value_counts().sort_index()
    full = counts[counts >= FULL_MONTH_SHARE * counts.median()]
    last = full.index.max()
    calibration_end = (last - (TEST_MONTHS - 1)).to_timestamp().date()
    train_end = (last - (TEST_MONTHS - 1 + CALIBRATION_MONTHS)).to_timestamp().date()
    return TimeSplit(train_end=train_end, calibration_end=calibration_end)
