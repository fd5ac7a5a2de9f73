"""``RiskModel.assess_rows`` (the API's path, from ``process_features`` dicts) gives exactly
what ``assess(feature_frame(rows))`` gives, on the small world's real rows, one at a time and
together; the packed isolation-forest walk equals the per-tree walk bit for bit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.settings import Settings
from features.procurement.build import feature_frame, process_features
from features.procurement.history import ProcurementHistory
from models.procurement.encoding import FeatureEncoder, FeatureFrameError
from models.procurement.model import RiskAssessment, RiskModel
from store.database import Store
from tests.procurement.test_model import fit_model

ROWS = 400


@pytest.fixture(scope="module")
def world_rows(small_installation: dict[str, str]) -> list[dict[str, Any]]:
    """Real feature rows: the small world's processes as the API computes them."""
    settings = Settings(
        data_dir=Path(small_installation["LODESTAR_DATA_DIR"]),
        key_file=Path(small_installation["LODESTAR_KEY_FILE"]),
    )
    with Store.open(settings, settings.keyring(), read_only=True) as store:
        history = ProcurementHistory.from_store(store, settings=settings)
    assert history.records is not None
    records = history.records[:: max(1, len(history.records) // ROWS)][:ROWS]
    return [process_features(history, record) for record in records]


@pytest.fixture(scope="module")
def world_model(world_rows: list[dict[str, Any]]) -> RiskModel:
    """A model fitted on the real rows; one category of each categorical column is left out
    of training, so that unseen values are exercised."""
    frame = feature_frame(world_rows)
    labels = (frame["red_flag_count"].fillna(0).to_numpy() > 0).astype(int)
    labels[::7] = 1 - labels[::7]  # both classes in each half
    model = fit_model(frame, labels)
    for column, values in model.categories.items():
        if len(values) > 1:
            model.categories[column] = values[:-1]
    return RiskModel(
        booster=model.booster,
        feature_names=model.feature_names,
        categories=model.categories,
        calibrator=model.calibrator,
        thresholds=model.thresholds,
        anomaly=model.anomaly,
    )


def assert_identical(fast: RiskAssessment, slow: RiskAssessment) -> None:
    assert np.array_equal(fast.raw_score, slow.raw_score)
    assert np.array_equal(fast.probability, slow.probability)
    assert np.array_equal(fast.warning_level, slow.warning_level)
    assert np.array_equal(fast.unsupervised_score, slow.unsupervised_score, equal_nan=True)
    assert np.array_equal(fast.contributions, slow.contributions)
    assert fast.reasons == slow.reasons
    assert fast.unseen_categories == slow.unseen_categories


def test_rows_path_equals_frame_path_row_by_row(
    world_model: RiskModel, world_rows: list[dict[str, Any]]
) -> None:
    unseen = 0
    for row in world_rows:
        fast = world_model.assess_rows([row])
        assert_identical(fast, world_model.assess(feature_frame([row])))
        unseen += bool(fast.unseen_categories)
    assert unseen > 0  # the left-out categories came up


def test_rows_path_equals_frame_path_in_a_batch(
    world_model: RiskModel, world_rows: list[dict[str, Any]]
) -> None:
    frame = feature_frame(world_rows)
    matrix = world_model.encoder.matrix_from_rows(world_rows)
    assert np.array_equal(matrix, world_model.matrix(frame), equal_nan=True)
    assert np.isnan(matrix).any()
    assert_identical(world_model.assess_rows(world_rows), world_model.assess(frame))


def test_packed_isolation_walk_equals_per_tree_walk(
    world_model: RiskModel, world_rows: list[dict[str, Any]]
) -> None:
    anomaly = world_model.anomaly
    assert anomaly is not None
    matrix = world_model.matrix(feature_frame(world_rows))
    assert np.array_equal(anomaly._score_packed(matrix), anomaly._score_per_tree(matrix))
    assert np.array_equal(anomaly.score(matrix[:1]), anomaly._score_per_tree(matrix[:1]))
    assert np.array_equal(anomaly.score(matrix), anomaly._score_per_tree(matrix))


def test_rows_path_rejects_what_the_frame_path_rejects(world_model: RiskModel) -> None:
    encoder: FeatureEncoder = world_model.encoder
    with pytest.raises(FeatureFrameError, match="lacks"):
        encoder.matrix_from_rows([{"price_ratio": 1.0}])
    row: dict[str, object] = dict.fromkeys(world_model.feature_names, 1.0)
    row[encoder.feature_names[encoder._numeric_positions[0]]] = "lots"
    with pytest.raises(FeatureFrameError, match="not numeric"):
        encoder.matrix_from_rows([row])
