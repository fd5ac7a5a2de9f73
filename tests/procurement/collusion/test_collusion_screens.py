"""The collusion screen families on tiny hand-computed tenders."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from features.procurement.collusion import (
    FEATURE_SETS,
    CollusionInputError,
    collusion_screens,
    with_market_ranks,
)
from features.procurement.collusion.coalition import coalition_screens
from features.procurement.collusion.law import law_signs
from features.procurement.collusion.market import bid_count_class, rank_within_market
from features.procurement.collusion.normalised import normalised_screens, sorted_relative_bids
from features.procurement.collusion.util import bid_matrix


def bids(*tenders: list[float]) -> pd.DataFrame:
    rows = [(t, price) for t, prices in enumerate(tenders, start=1) for price in prices]
    return pd.DataFrame(rows, columns=["tender", "price"]).sample(frac=1.0, random_state=0)


def matrix(*tenders: list[float]):
    return bid_matrix(bids(*tenders), tender_col="tender", price_col="price")


def test_bid_matrix_sorts_and_pads() -> None:
    m = matrix([120.0, 100.0, 110.0], [5.0])
    assert list(m.index) == [1, 2]
    assert m.counts.tolist() == [3, 1]
    np.testing.assert_array_equal(m.prices[0], [100.0, 110.0, 120.0])
    assert m.prices[1, 0] == 5.0
    assert np.isnan(m.prices[1, 1:]).all()


def test_bad_prices_are_refused() -> None:
    with pytest.raises(CollusionInputError, match="not positive"):
        bid_matrix(bids([100.0, 0.0, 3.0]), tender_col="tender", price_col="price")
    with pytest.raises(CollusionInputError, match="lacks column"):
        bid_matrix(bids([1.0]), tender_col="lot", price_col="price")


def test_normalised_screens_by_hand() -> None:
    row = normalised_screens(matrix([100.0, 110.0, 120.0, 150.0])).iloc[0]
    # losing bids 110, 120, 150: mean 126.67, sample std sqrt(433.33) = 20.817
    assert row["losing_cv"] == pytest.approx(math.sqrt(1300 / 3) / (380 / 3))
    assert row["losing_median_to_lowest"] == pytest.approx(0.2)
    assert row["first_gap_share"] == pytest.approx(0.2)  # 10 of a range of 50
    assert row["losing_gap_mean"] == pytest.approx(0.2)  # (150 − 110) / 2 / 100


def test_sorted_relative_bids_pad_with_nan() -> None:
    frame = sorted_relative_bids(matrix([100.0, 150.0, 110.0]), width=3)
    assert list(frame.columns) == ["relative_bid_2", "relative_bid_3", "relative_bid_4"]
    np.testing.assert_allclose(frame.iloc[0, :2], [0.1, 0.5])
    assert np.isnan(frame.to_numpy()[0, 2])


def test_coalition_screens_by_hand() -> None:
    row = coalition_screens(matrix([100.0, 101.0, 102.0, 200.0]), sizes=(3, 4)).iloc[0]
    assert row["coalition3_cv_min"] == pytest.approx(1 / 101)  # the subset 100, 101, 102
    assert row["coalition3_spread_min"] == pytest.approx(0.02)
    assert row["coalition3_spread_max"] == pytest.approx(1.0)
    assert row["coalition3_rd_max"] == pytest.approx(math.sqrt(2))  # 1 / std(101, 102)
    assert row["coalition3_rd_min"] == pytest.approx(1 / np.std([101, 200], ddof=1))
    whole_cv = np.std([100, 101, 102, 200], ddof=1) / 125.75
    assert row["coalition4_cv_min"] == pytest.approx(whole_cv)  # one subset: min = max = mean
    assert row["coalition4_cv_max"] == pytest.approx(whole_cv)


def test_coalition_finds_a_partial_cartel_the_whole_tender_hides() -> None:
    screens = collusion_screens(
        bids([100.0, 101.0, 102.0, 130.0, 170.0], [100.0, 115.0, 131.0, 148.0, 170.0]),
        tender_col="tender",
        price_col="price",
    )
    cartel, honest = screens.loc[1], screens.loc[2]
    assert cartel["bid_cv"] > 0.2  # the outsiders hide the cartel from the whole-tender CV
    assert cartel["coalition3_cv_min"] < 0.01 < honest["coalition3_cv_min"]


def test_coalition_needs_k_bids() -> None:
    frame = coalition_screens(matrix([100.0, 110.0, 120.0], [100.0, 105.0]))
    assert frame.loc[1, ["coalition3_cv_min"]].notna().all()
    assert frame.loc[1, ["coalition4_cv_min"]].isna().all()
    assert frame.loc[2].isna().all()


def test_law_signs_by_hand() -> None:
    frame = law_signs(
        matrix(
            [100.0, 110.0, 120.0, 130.0],  # equal steps
            [100.0, 110.0, 121.0, 133.1],  # equal ratios
            [100.0, 105.0, 130.0],
            [100.0, 100.0, 120.0],
            [100.0, 120.0],
        )
    )
    assert frame["law40_regular_price_pattern"].tolist()[:4] == [1.0, 1.0, 0.0, 0.0]
    assert np.isnan(frame["law40_regular_price_pattern"].to_numpy()[4])
    assert frame["law40_identical_prices"].tolist() == [0.0, 0.0, 0.0, 1.0, 0.0]
    assert frame["law44_fewer_than_three_bidders"].tolist() == [0.0, 0.0, 0.0, 0.0, 1.0]
    assert frame.loc[1, "adjacent_gap_cv"] == pytest.approx(0.0)
    assert frame.loc[3, "adjacent_gap_cv"] == pytest.approx(np.std([5, 25], ddof=1) / 15)


def test_screens_ignore_currency_and_price_level() -> None:
    tenders = [[100.0, 104.0, 109.0, 130.0], [50.0, 51.0, 58.0, 58.0, 70.0]]
    screens = collusion_screens(bids(*tenders), tender_col="tender", price_col="price")
    scaled = collusion_screens(
        bids(*[[7.3 * p for p in t] for t in tenders]), tender_col="tender", price_col="price"
    )
    pd.testing.assert_frame_equal(screens, scaled, rtol=1e-9)


def test_ranks_within_market_put_markets_on_one_footing() -> None:
    screens = pd.DataFrame({"bid_cv": [0.01, 0.02, 0.03, 0.10, 0.20, 0.30]})
    ranks = rank_within_market(
        screens,
        market=pd.Series(["a", "a", "a", "b", "b", "b"]),
        bid_count=pd.Series([3, 3, 3, 3, 3, 3]),
        min_group=1,
    )
    assert list(ranks.columns) == ["bid_cv_market_rank"]
    np.testing.assert_allclose(ranks["bid_cv_market_rank"], [1 / 3, 2 / 3, 1, 1 / 3, 2 / 3, 1])


def test_small_bid_count_classes_fall_back_to_the_market() -> None:
    screens = pd.DataFrame({"bid_cv": [0.1, 0.2, 0.3, 0.4]})
    ranks = rank_within_market(
        screens,
        market=pd.Series(["a"] * 4),
        bid_count=pd.Series([3, 3, 7, 7]),
        min_group=3,
    )
    np.testing.assert_allclose(ranks["bid_cv_market_rank"], [0.25, 0.5, 0.75, 1.0])
    assert bid_count_class(np.array([1, 2, 3, 4, 5, 6, 9, 40])).tolist() == [0, 0, 1, 2, 2, 3, 4, 4]


def test_every_feature_set_is_computed() -> None:
    screens = collusion_screens(
        bids([100.0, 104.0, 109.0, 130.0], [50.0, 51.0, 58.0]),
        tender_col="tender",
        price_col="price",
    )
    screens = with_market_ranks(screens, market=pd.Series("m", index=screens.index))
    for name, columns in FEATURE_SETS.items():
        assert set(columns) <= set(screens.columns), name
