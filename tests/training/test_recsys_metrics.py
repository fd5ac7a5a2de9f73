"""Top-k metrics on tiny lists computed by hand."""

from __future__ import annotations

import math

import pytest

from training.metrics.recsys import (
    catalogue_coverage,
    intra_list_diversity,
    map_at_k,
    mean_over_users,
    ndcg_at_k,
    novelty,
    precision_at_k,
    ranking_report,
    recall_at_k,
)

RANKED = ["a", "b", "c", "d"]
RELEVANT = {"a", "c", "e"}


def test_precision_and_recall_count_hits_in_the_top_k() -> None:
    assert precision_at_k(RANKED, RELEVANT, 3) == pytest.approx(2 / 3)
    assert recall_at_k(RANKED, RELEVANT, 3) == pytest.approx(2 / 3)
    assert precision_at_k(["a"], RELEVANT, 3) == pytest.approx(1 / 3)  # short list divides by k


def test_ndcg_by_hand() -> None:
    # DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3) + 1/log2(4)
    ideal = 1 + 1 / math.log2(3) + 0.5
    assert ndcg_at_k(RANKED, RELEVANT, 3) == pytest.approx(1.5 / ideal)
    assert ndcg_at_k(["a", "c", "e"], RELEVANT, 3) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "a"], {"a"}, 2) == pytest.approx(1 / math.log2(3))


def test_map_divides_by_the_reachable_hits() -> None:
    # hits at rank 1 (precision 1) and rank 3 (precision 2/3); min(k, |relevant|) = 3
    assert map_at_k(RANKED, RELEVANT, 3) == pytest.approx((1 + 2 / 3) / 3)
    assert map_at_k(["x", "a"], {"a"}, 10) == pytest.approx(0.5)


def test_undefined_without_relevant_items() -> None:
    assert math.isnan(recall_at_k(RANKED, set(), 3))
    assert math.isnan(ndcg_at_k(RANKED, set(), 3))


def test_mean_over_users_skips_users_without_relevant_items_and_counts_missing_lists() -> None:
    lists = {"u1": ["a"], "u2": ["x"]}
    relevant = {"u1": {"a"}, "u2": {"y"}, "u3": set(), "u4": {"a"}}
    # u1 1.0, u2 0.0, u4 has no list: 0.0; u3 is left out
    assert mean_over_users(ndcg_at_k, lists, relevant, 10) == pytest.approx(1 / 3)


def test_coverage_novelty_and_diversity_by_hand() -> None:
    assert catalogue_coverage([["a", "b"], ["b", "c"]], 4) == pytest.approx(3 / 4)
    # -log2(4/8) = 1, -log2(2/8) = 2
    assert novelty([["a", "b"]], {"a": 4, "b": 2}, 8) == pytest.approx(1.5)
    # an item nobody saw counts as seen by one user: -log2(1/8) = 3
    assert novelty([["z"]], {}, 8) == pytest.approx(3.0)
    kps = {"a": {"K1"}, "b": {"K1", "K2"}, "c": {"K3"}}
    # pairs: a-b 1 - 1/2, a-c 1, b-c 1
    assert intra_list_diversity([["a", "b", "c"], ["a"]], kps) == pytest.approx(2.5 / 3)


def test_ranking_report_has_every_metric() -> None:
    report = ranking_report(
        {"u1": RANKED},
        {"u1": RELEVANT},
        k=3,
        catalogue_size=5,
        item_users={"a": 1},
        n_users=2,
        item_kps={"a": ["K1"]},
    )
    assert set(report) == {
        "ndcg@3",
        "ndcg@3_se",
        "precision@3",
        "recall@3",
        "map@3",
        "coverage",
        "novelty",
        "users",
        "kp_diversity",
    }
    assert report["coverage"] == pytest.approx(3 / 5)
