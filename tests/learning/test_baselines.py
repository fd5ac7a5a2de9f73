"""Baselines on a three-user, three-item matrix checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.learning.baselines import (
    CooccurrenceRecommender,
    EASERecommender,
    NotFittedError,
    PopularityRecommender,
    ease_weights,
)

# u1 {A, B}, u2 {A, B}, u3 {B, C}; a repeated pair counts once
INTERACTIONS = pd.DataFrame(
    {
        "user": ["u1", "u1", "u2", "u2", "u3", "u3", "u3"],
        "item": ["A", "B", "A", "B", "B", "C", "C"],
    }
)


def test_ease_closed_form_by_hand() -> None:
    # G = XᵀX = [[2,2,0],[2,3,1],[0,1,1]]; G + I has determinant 13 and inverse
    # P = [[7,-4,2],[-4,6,-3],[2,-3,8]] / 13; B_ij = -P_ij / P_jj, zero diagonal
    gram = np.array([[2.0, 2, 0], [2, 3, 1], [0, 1, 1]])
    expected = np.array([[0, 4 / 6, -2 / 8], [4 / 7, 0, 3 / 8], [-2 / 7, 3 / 6, 0]])
    np.testing.assert_allclose(ease_weights(gram, 1.0), expected)


def test_ease_scores_and_recommendations() -> None:
    model = EASERecommender(l2=1.0).fit(INTERACTIONS)
    assert model.items_ == ["A", "B", "C"]
    scores = model.scores(["u3", "u1"])
    assert scores[0, 0] == pytest.approx(4 / 7 - 2 / 7)  # u3 on A: B[B,A] + B[C,A]
    assert scores[1, 2] == pytest.approx(-1 / 4 + 3 / 8)  # u1 on C: B[A,C] + B[B,C]
    assert model.recommend(["u3", "u1"], k=5) == {"u3": ["A"], "u1": ["C"]}
    assert model.recommend(["u3"], k=2, exclude_seen=False)["u3"][0] in {"B", "C"}


def test_popularity_counts_users_and_falls_back_for_unknown_users() -> None:
    model = PopularityRecommender().fit(INTERACTIONS)
    np.testing.assert_allclose(model.popularity_, [2, 3, 1])
    assert model.recommend(["new"], k=3) == {"new": ["B", "A", "C"]}
    assert model.recommend(["u3"], k=3) == {"u3": ["A"]}


def test_cooccurrence_jaccard() -> None:
    model = CooccurrenceRecommender(similarity="jaccard").fit(INTERACTIONS)
    # A and B: 2 users had both, 3 had either
    assert model.similarity_[0, 1] == pytest.approx(2 / 3)
    assert model.similarity_[0, 0] == 0.0
    assert model.recommend(["u3"], k=1) == {"u3": ["A"]}


def test_not_fitted_and_bad_input() -> None:
    with pytest.raises(NotFittedError):
        EASERecommender().recommend(["u1"])
    with pytest.raises(ValueError, match="column"):
        PopularityRecommender().fit(pd.DataFrame({"user": ["u1"]}))
