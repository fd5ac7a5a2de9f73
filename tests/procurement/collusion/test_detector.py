"""The collusion detector's estimator plumbing: weights, save/load, the consistent logistic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.procurement.collusion import collusion_screens, with_market_ranks
from models.collusion.consistent import ConsistentLogistic
from models.collusion.detector import CollusionDetector, market_balanced_weights


def test_market_balanced_weights() -> None:
    labels = np.array([1, 1, 1, 0, 1, 0])
    markets = np.array(["a", "a", "a", "a", "b", "b"])
    weights = market_balanced_weights(labels, markets)
    total = weights.sum()
    assert total == pytest.approx(6.0)
    # each market a half, each class of a market a quarter
    assert weights[:3].sum() == pytest.approx(weights[3]) == pytest.approx(total / 4)
    assert weights[4] == pytest.approx(weights[5]) == pytest.approx(total / 4)


def planted_bids(seed: int, tenders: int = 120) -> tuple[pd.DataFrame, pd.Series]:
    """Honest tenders spread 0-40 % above the lowest bid; rigged ones 0-3 % above it."""
    rng = np.random.default_rng(seed)
    rows, labels = [], {}
    for tender in range(tenders):
        rigged = tender % 3 == 0
        n = int(rng.integers(3, 8))
        level = float(rng.uniform(1e3, 1e6))
        spread = 0.03 if rigged else 0.4
        rows += [(tender, level * (1 + rng.uniform(0, spread))) for _ in range(n)]
        labels[tender] = int(rigged)
    return pd.DataFrame(rows, columns=["tender", "price"]), pd.Series(labels)


def market_screens(seed: int, name: str) -> tuple[pd.DataFrame, np.ndarray]:
    bids, labels = planted_bids(seed)
    screens = collusion_screens(bids, tender_col="tender", price_col="price")
    screens = with_market_ranks(screens, market=pd.Series(name, index=screens.index))
    return screens, labels.reindex(screens.index).to_numpy()


@pytest.mark.parametrize("kind", ["lightgbm", "consistent_logistic"])
def test_detector_saves_loads_and_scores_the_same(kind: str, tmp_path: Path) -> None:
    a, labels_a = market_screens(0, "a")
    b, labels_b = market_screens(1, "b")
    screens = pd.concat([a, b], ignore_index=True)
    labels = np.concatenate([labels_a, labels_b])
    markets = np.array(["a"] * len(a) + ["b"] * len(b))
    detector = CollusionDetector(kind=kind, feature_set="ranked", rounds=20)
    detector.fit(screens, labels, markets=markets)
    test, test_labels = market_screens(2, "c")
    probability = detector.predict_proba(test)
    assert probability[test_labels == 1].mean() > probability[test_labels == 0].mean() + 0.2
    loaded = CollusionDetector.load(detector.save(tmp_path / "model"))
    np.testing.assert_allclose(loaded.predict_proba(test), probability)
    bids, _ = planted_bids(3, tenders=30)
    answer = loaded.score_bids(bids)
    assert list(answer.columns) == ["tender", "market", "bid_count", "probability"]
    assert len(answer) == 30


def test_consistent_logistic_keeps_only_agreed_directions() -> None:
    # screen x: low = collusive in both markets; screen y: flips between them
    screens = pd.DataFrame(
        {
            "x_market_rank": [0.1, 0.2, 0.8, 0.9, 0.1, 0.2, 0.8, 0.9],
            "y_market_rank": [0.9, 0.8, 0.2, 0.1, 0.1, 0.2, 0.8, 0.9],
        }
    )
    labels = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    markets = np.array(["a"] * 4 + ["b"] * 4)
    model = ConsistentLogistic(candidates=("x_market_rank", "y_market_rank"))
    assert model.consistent_screens(screens, labels, markets) == {"x_market_rank": -1.0}
    model.fit(screens, labels, markets=markets)
    assert model.columns_ == ["x_market_rank"]
    assert model.coef_[0] < 0
    restored = ConsistentLogistic.from_dict(model.to_dict())
    np.testing.assert_allclose(restored.predict_proba(screens), model.predict_proba(screens))


def test_one_tender_scored_against_a_reference_as_in_its_market() -> None:
    """A tender scored alone against its market's other tenders gets (nearly) the score it
    gets when the whole market is ranked together; alone without a reference it would be
    ranked against itself."""
    a, labels_a = market_screens(0, "a")
    b, labels_b = market_screens(1, "b")
    detector = CollusionDetector(kind="consistent_logistic", feature_set="ranked")
    detector.fit(
        pd.concat([a, b], ignore_index=True),
        np.concatenate([labels_a, labels_b]),
        markets=np.array(["a"] * len(a) + ["b"] * len(b)),
    )
    bids, labels = planted_bids(2)
    together = detector.score_bids(bids).set_index("tender")["probability"]
    for tender in (0, 1):  # rigged, honest
        alone = detector.score_bids(bids.assign(reference=bids["tender"] != tender))
        assert list(alone["tender"]) == [tender]
        assert alone["probability"].iloc[0] == pytest.approx(together[tender], abs=0.05)
    rigged = detector.score_bids(bids.assign(reference=bids["tender"] != 0))["probability"]
    honest = detector.score_bids(bids.assign(reference=bids["tender"] != 1))["probability"]
    assert labels[0] == 1
    assert labels[1] == 0
    assert rigged.iloc[0] > honest.iloc[0]
