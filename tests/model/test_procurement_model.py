"""Behaviour of the procurement risk model on the synthetic frame of
``tests.procurement.test_model``: direction (a higher price ratio never lowers the risk)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.procurement.model import RiskModel
from tests.procurement.test_model import PRICE, fit_model, synthetic_frame


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return synthetic_frame(1_200, seed=1)


@pytest.fixture(scope="module")
def model(data: tuple[pd.DataFrame, np.ndarray]) -> RiskModel:
    return fit_model(*data)


def test_price_feature_is_monotone(model: RiskModel, data: tuple) -> None:
    frame = data[0].head(50)
    previous = model.predict_proba(frame.assign(**{PRICE: 0.5}))
    for ratio in (1.0, 1.5, 2.0, 4.0, 10.0):
        current = model.predict_proba(frame.assign(**{PRICE: ratio}))
        assert (current >= previous - 1e-12).all()
        previous = current
