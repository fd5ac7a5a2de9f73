"""The point-in-time collusion score and the art. 40 / 44 signs of the feature builder."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.security import PersonalData
from features.procurement.build import build_process_features
from features.procurement.collusion.point_in_time import (
    COLLUSION_SCORE,
    LAW40_REGULAR_PRICE_PATTERN,
    LAW44_FEWER_THAN_THREE_BIDDERS,
    MIN_REFERENCE,
    regular_price_pattern,
    sample_cv,
    share_varying_more,
)
from features.procurement.history import ProcurementHistory
from features.procurement.screens import BID_CV, tender_screens
from tests.procurement.test_features import frames_from_releases, register, release

BIDDERS = ("SUP-A", "SUP-B", "SUP-C")


def test_share_varying_more_counts_ties_half() -> None:
    reference = np.array([0.01, 0.05, 0.05, 0.10])
    assert share_varying_more(reference, 0.05) == pytest.approx((1 + 0.5 * 2) / 4)
    assert share_varying_more(reference, 0.001) == 1.0
    assert share_varying_more(reference, 0.2) == 0.0


def test_sample_cv_is_the_screens_bid_cv() -> None:
    prices = [100.0, 103.0, 111.0, 125.0]
    assert sample_cv(prices) == pytest.approx(tender_screens(prices)[BID_CV], rel=1e-12)


def test_regular_price_pattern_equal_steps_or_ratios() -> None:
    assert regular_price_pattern([100.0, 110.0, 120.0, 130.0]) == 1.0
    assert regular_price_pattern([100.0, 110.0, 121.0, 133.1]) == 1.0
    assert regular_price_pattern([100.0, 101.0, 130.0]) == 0.0
    assert math.isnan(regular_price_pattern([100.0, 110.0]))


def priced(data: dict[str, Any], prices: list[float]) -> dict[str, Any]:
    for detail, price in zip(data["bids"]["details"], prices, strict=True):
        detail["value"]["amount"] = price
    return data


def spread_out(k: int) -> list[float]:
    """Three bids varying by roughly 10–25 % (never regular steps)."""
    return [100_000.0, 100_000.0 * (1.1 + 0.01 * (k % 7)), 100_000.0 * (1.3 + 0.02 * (k % 5))]


def earlier_tenders(count: int, first: date) -> list[dict[str, Any]]:
    return [
        priced(
            release(f"REF-{k:03d}", str(first + timedelta(days=k)), bidders=BIDDERS),
            spread_out(k),
        )
        for k in range(count)
    ]


def value(frame: pd.DataFrame, ocid: str, column: str) -> float:
    return float(frame[column].astype(float).loc[ocid])


def history_of(releases: list[dict[str, Any]], personal: PersonalData) -> ProcurementHistory:
    return ProcurementHistory.from_frames(
        frames_from_releases(releases, personal, register(*BIDDERS))
    )


def test_bids_closer_than_every_earlier_tender_score_one(personal: PersonalData) -> None:
    reference = earlier_tenders(MIN_REFERENCE + 5, date(2025, 1, 1))
    ring = priced(release("RING", "2025-03-01", bidders=BIDDERS), [100_000.0, 100_400.0, 101_300.0])
    usual = priced(release("USUAL", "2025-03-01", bidders=BIDDERS), spread_out(3))
    frame = build_process_features(history_of([*reference, ring, usual], personal)).set_index(
        "ocid"
    )
    assert value(frame, "RING", COLLUSION_SCORE) == 1.0
    assert 0.0 < value(frame, "USUAL", COLLUSION_SCORE) < 1.0
    assert value(frame, "RING", LAW40_REGULAR_PRICE_PATTERN) == 0.0
    assert value(frame, "RING", LAW44_FEWER_THAN_THREE_BIDDERS) == 0.0
    # too few earlier tenders to compare with: no score
    assert math.isnan(value(frame, "REF-000", COLLUSION_SCORE))


def test_score_ignores_later_tenders(personal: PersonalData) -> None:
    reference = earlier_tenders(MIN_REFERENCE + 5, date(2025, 1, 1))
    ring = priced(release("RING", "2025-03-01", bidders=BIDDERS), [100_000.0, 100_400.0, 101_300.0])
    before = build_process_features(history_of([*reference, ring], personal), ocids=["RING"])
    later = [
        priced(release(f"LATE-{k}", "2025-03-05", bidders=BIDDERS), [100.0, 100.1, 100.2])
        for k in range(MIN_REFERENCE)
    ]
    after = build_process_features(history_of([*reference, ring, *later], personal), ocids=["RING"])
    assert float(before[COLLUSION_SCORE].iloc[0]) == 1.0
    assert float(after[COLLUSION_SCORE].iloc[0]) == 1.0


def test_law_signs_of_the_bids(personal: PersonalData) -> None:
    stepped = release("STEP", "2025-03-01", bidders=BIDDERS)  # bids step up by 3 % each
    two = release("TWO", "2025-03-01", bidders=BIDDERS[:2])
    direct = release("DIRECT", "2025-03-01", bidders=BIDDERS[:1], method="direct")
    frame = build_process_features(history_of([stepped, two, direct], personal)).set_index("ocid")
    assert value(frame, "STEP", LAW40_REGULAR_PRICE_PATTERN) == 1.0
    assert value(frame, "STEP", LAW44_FEWER_THAN_THREE_BIDDERS) == 0.0
    assert value(frame, "TWO", LAW44_FEWER_THAN_THREE_BIDDERS) == 1.0
    assert math.isnan(value(frame, "TWO", LAW40_REGULAR_PRICE_PATTERN))
    assert math.isnan(value(frame, "TWO", COLLUSION_SCORE))
    assert value(frame, "DIRECT", LAW44_FEWER_THAN_THREE_BIDDERS) == 0.0
