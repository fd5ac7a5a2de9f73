"""Behaviour of the supplier ESG model: direction (a penalty never lowers the score),
invariance (a supplier's name changes nothing), minimum function (no data is unknown, not safe).

The model is the synthetic monotone one of ``tests.esg.test_model``."""

from __future__ import annotations

import itertools

import pytest

from features.esg.build import supplier_features
from features.esg.history import SupplierHistory
from features.esg.specs import HAS_ANY_HISTORY
from models.esg.model import UNKNOWN, EsgModel
from models.esg.pyfunc import predictions_frame
from tests.esg.test_model import AS_OF, _history, _penalty, synthetic_model


@pytest.fixture(scope="module")
def model() -> EsgModel:
    return synthetic_model()


def test_adding_a_penalty_never_lowers_the_score(model: EsgModel) -> None:
    scores = []
    for count in range(6):
        history = _history([_penalty(i) for i in range(count)])
        scores.append(model.score(supplier_features(history, ["S1"], AS_OF))[0])
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(scores))
    assert scores[-1] > scores[0]


def test_renaming_a_supplier_changes_nothing(model: EsgModel) -> None:
    events = [_penalty(0), _penalty(1, "major")]
    first = model.assess(supplier_features(_history(events, "S1"), ["S1"], AS_OF))[0]
    second = model.assess(supplier_features(_history(events, "X-9"), ["X-9"], AS_OF))[0]
    assert first.score == second.score
    assert first.band == second.band
    assert [r.feature for r in first.reasons] == [r.feature for r in second.reasons]


def test_supplier_with_no_data_is_unknown_never_safe(model: EsgModel) -> None:
    empty = SupplierHistory.from_frames({}, category_factors={})
    (assessment,) = model.assess(supplier_features(empty, ["NOBODY"], AS_OF))
    assert assessment.unknown
    assert assessment.band == UNKNOWN
    assert assessment.action == "manual_review"
    assert assessment.reasons[0].feature == HAS_ANY_HISTORY
    assert "not scored as safe" in assessment.reasons[0].sentence_en
    assert (
        predictions_frame(model, supplier_features(empty, ["NOBODY"], AS_OF))["band"][0] == UNKNOWN
    )
