"""The collusion score from a fitted detector, point in time: ranks as the market ranks give
them, the pyfunc's answer against the same earlier tenders, a score for every tender of three
bids or more."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from core.security import PersonalData
from features.procurement.build import build_process_features
from features.procurement.collusion import SERVED
from features.procurement.collusion.market import rank_against_reference
from features.procurement.collusion.point_in_time import (
    COLLUSION_SCORE,
    MIN_REFERENCE,
    percentiles_among,
)
from models.collusion.detector import CollusionDetector
from models.collusion.rule import ScreenRule
from tests.procurement.collusion.test_point_in_time import (
    BIDDERS,
    earlier_tenders,
    history_of,
    priced,
    spread_out,
    value,
)
from tests.procurement.test_features import release


def test_percentiles_among_are_the_reference_ranks() -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(rng.integers(0, 5, (40, 3)).astype(float), columns=list("abc"))
    reference.iloc[3, 1] = np.nan
    values = pd.DataFrame([[2.0, 0.0, np.nan]], columns=list("abc"))
    expected = rank_against_reference(
        values,
        bid_count=pd.Series([3]),
        reference=reference,
        reference_bid_count=pd.Series(np.full(40, 3)),
    )
    got = percentiles_among(reference.to_numpy(), values.to_numpy()[0])
    np.testing.assert_allclose(got, expected.to_numpy()[0], equal_nan=True)


def cv_rule() -> CollusionDetector:
    """The CV rule as a fitted detector (no label needed: its screen and sign are fixed)."""
    detector = CollusionDetector(kind="screen_rule", feature_set="cv")
    detector.rule_ = ScreenRule(candidates=tuple(detector.features), sign=-1.0)
    detector.rule_.column_, detector.rule_.sign_ = detector.features[0], -1.0
    return detector


def test_detector_scores_against_earlier_tenders_as_the_pyfunc_does(
    personal: PersonalData,
) -> None:
    reference = earlier_tenders(MIN_REFERENCE + 5, date(2025, 1, 1))
    ring_prices = [100_000.0, 100_400.0, 101_300.0]
    ring = priced(release("RING", "2025-03-01", bidders=BIDDERS), ring_prices)
    usual = priced(release("USUAL", "2025-03-01", bidders=BIDDERS), spread_out(3))
    two = release("TWO", "2025-03-01", bidders=BIDDERS[:2])
    history = history_of([*reference, ring, usual, two], personal)
    detector = cv_rule()
    frame = build_process_features(history, collusion=detector).set_index("ocid")
    assert value(frame, "RING", COLLUSION_SCORE) > value(frame, "USUAL", COLLUSION_SCORE)
    assert math.isnan(value(frame, "TWO", COLLUSION_SCORE))
    # the first tender has no earlier one to rank against: scored, as the median
    assert value(frame, "REF-000", COLLUSION_SCORE) == pytest.approx(0.5)
    bids = pd.DataFrame(
        [("RING", p, False) for p in ring_prices]
        + [(f"REF-{k:03d}", p, True) for k in range(MIN_REFERENCE + 5) for p in spread_out(k)],
        columns=["tender", "price", "reference"],
    )
    served = detector.score_bids(bids)
    assert value(frame, "RING", COLLUSION_SCORE) == pytest.approx(served["probability"].iloc[0])
    assert set(SERVED) <= set(history.bid_screens.columns)
