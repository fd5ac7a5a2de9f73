"""The booster fit every LightGBM training shares, so that one job runs the same on one
machine and on a Dask cluster: a ``BoosterFitter`` is ``local_booster`` here, or
``training.distributed.dask_booster`` bound to a client there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightgbm as lgb
import numpy as np

BoosterFitter = Callable[..., lgb.Booster]
"""``fit(matrix, labels, *, feature_names, categorical_index, params, rounds) -> Booster``."""


def local_booster(
    matrix: np.ndarray,
    labels: np.ndarray,
    *,
    feature_names: list[str],
    categorical_index: list[int],
    params: dict[str, Any],
    rounds: int,
) -> lgb.Booster:
    """``lightgbm.train`` in this process; ``categorical_index``: the columns of ``matrix``
    holding category codes (none for an all-numeric job)."""
    dataset = lgb.Dataset(
        matrix,
        label=labels,
        feature_name=feature_names,
        categorical_feature=categorical_index,
        free_raw_data=False,
    )
    return lgb.train(params, dataset, num_boost_round=rounds)
