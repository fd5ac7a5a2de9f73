"""PSI and the binned drift reference (``models.drift``) on small hand-made data."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from models.drift import DRIFT_REFERENCE, EPSILON, DriftReference, FeatureBins, psi


def test_psi_by_hand() -> None:
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5)
    expected = 0.25 * math.log(2) + 0.25 * math.log(1.5)
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(expected)
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.274653, abs=1e-6)
    assert psi([2, 2], [1, 3]) == pytest.approx(expected)  # counts are normalised


def test_psi_of_identical_shares_is_zero() -> None:
    assert psi([0.1, 0.2, 0.7], [0.1, 0.2, 0.7]) == pytest.approx(0.0)


def test_an_empty_bin_is_floored_not_infinite() -> None:
    value = psi([0.5, 0.5], [1.0, 0.0])
    assert math.isfinite(value)
    by_hand = (1.0 - 0.5) * math.log(1.0 / 0.5) + (EPSILON - 0.5) * math.log(EPSILON / 0.5)
    assert value == pytest.approx(by_hand)


def test_psi_refuses_shares_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="shapes"):
        psi([0.5, 0.5], [1.0])


def test_numeric_bins_quantiles_and_missing() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
    bins = FeatureBins.numeric(values, n_bins=2)
    assert bins.edges == (2.5,)
    # (-inf, 2.5], (2.5, inf), missing
    assert bins.proportions == pytest.approx((0.4, 0.4, 0.2))
    live = np.array([1.0, 2.5, 9.0, np.nan])
    assert bins.numeric_bin(live).tolist() == [0, 0, 1, 2]


def test_counts_with_many_zeros_get_no_duplicate_edges() -> None:
    bins = FeatureBins.numeric([0, 0, 0, 0, 0, 0, 0, 1, 1, 2], n_bins=10)
    assert list(bins.edges) == sorted(set(bins.edges))
    assert sum(bins.proportions) == pytest.approx(1.0)
    assert bins.proportions[0] == pytest.approx(0.7)  # every zero in (-inf, 0]


def test_categorical_bins_other_and_missing() -> None:
    bins = FeatureBins.categorical(["goods", "works", "goods", None])
    assert bins.categories == ("goods", "works")
    assert bins.proportions == pytest.approx((0.5, 0.25, 0.0, 0.25))
    codes = np.array([bins.encode(v) for v in ["works", "services", None, pd.NA]])
    assert bins.live_shares(codes) == pytest.approx([0.0, 0.25, 0.25, 0.5])


def test_identical_data_has_no_drift_and_a_shift_has_much() -> None:
    rng = np.random.default_rng(0)
    reference = rng.lognormal(10, 1, 5000)
    bins = FeatureBins.numeric(reference)
    same = rng.lognormal(10, 1, 5000)
    assert bins.psi_of(same) < 0.02
    assert bins.psi_of(same * 3) > 0.2


def test_reference_round_trips_through_json_and_encodes_rows() -> None:
    frame = pd.DataFrame(
        {"price": [10.0, 20.0, 30.0, 40.0], "method": ["open", "open", "direct", None]}
    )
    reference = DriftReference.from_frame(
        frame, [0.1, 0.2, 0.3, 0.9], features=["price", "method"], categorical=["method"], n_bins=2
    ).with_data_version("abc")
    metadata = {DRIFT_REFERENCE: json.loads(json.dumps(reference.to_dict()))}
    loaded = DriftReference.of_model(metadata)
    assert loaded == reference
    assert DriftReference.of_model({}) is None
    encoded = loaded.encode_rows([{"price": 15, "method": "open"}, {"method": "limited"}])
    assert np.isnan(encoded[1, 0])  # a key the row lacks counts as missing
    assert encoded[0].tolist() == [15.0, 1.0]  # "open" is the second category (sorted)
    assert encoded[1, 1] == 2.0  # an unseen category: "other"


def test_a_reference_of_another_format_is_refused() -> None:
    with pytest.raises(ValueError, match="format"):
        DriftReference.from_dict({"format_version": 99})
