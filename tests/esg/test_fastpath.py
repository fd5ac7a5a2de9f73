"""``EsgModel.assess_rows`` on ``supplier_rows`` (the service's path) gives exactly what
``assess(supplier_features(...))`` gives (the reference path: training, the pyfunc, batch), on
the small world's real suppliers with a model fitted by the real training code, one supplier at
a time and all together; and the screen the routes call is that path."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from core.settings import Settings
from features.esg.build import OUTPUT_COLUMNS, supplier_features, supplier_rows
from features.esg.history import SupplierHistory
from features.esg.knockouts import gates_for
from models.esg.model import EsgAssessment, EsgModel, FeatureFrameError
from models.esg.ranking import screen_suppliers
from store.database import Store
from training.supplier_esg import TrainingOptions, build_snapshots, fit_esg_model

# inside the data, its last day, before anything is known (every supplier unknown)
DATES = (date(2024, 6, 30), date(2025, 12, 31), date(2000, 1, 1))


@pytest.fixture(scope="module")
def history(small_installation: dict[str, str]) -> SupplierHistory:
    settings = Settings(
        data_dir=Path(small_installation["LODESTAR_DATA_DIR"]),
        key_file=Path(small_installation["LODESTAR_KEY_FILE"]),
    )
    with Store.open(settings, settings.keyring(), read_only=True) as store:
        return SupplierHistory.from_store(store)


@pytest.fixture(scope="module")
def model(history: SupplierHistory) -> EsgModel:
    options = TrainingOptions(n_estimators=40, num_leaves=7, min_data_in_leaf=5)
    return fit_esg_model(build_snapshots(history, options), options)


def assert_identical(fast: list[EsgAssessment], slow: list[EsgAssessment]) -> None:
    assert len(fast) == len(slow)
    for one, other in zip(fast, slow, strict=True):
        assert one == other  # every field: score, band, action, pillars, reasons, evidence


def test_rows_are_the_frame_rows(history: SupplierHistory) -> None:
    ids = [*history.supplier_ids, "NOT-REGISTERED"]
    rows = supplier_rows(history, ids, DATES[1])
    frame = supplier_features(history, ids, DATES[1])
    assert [list(row) for row in rows] == [OUTPUT_COLUMNS] * len(ids)
    for row, record in zip(rows, frame.to_dict(orient="records"), strict=True):
        for name in OUTPUT_COLUMNS:
            value, reference = row[name], record[name]
            assert value == reference or (value != value and reference != reference), name


def test_rows_path_equals_frame_path_one_supplier_at_a_time(
    history: SupplierHistory, model: EsgModel
) -> None:
    bands: set[str] = set()
    for as_of in DATES:
        for sid in [*history.supplier_ids, "NOT-REGISTERED"]:
            fast = model.assess_rows(supplier_rows(history, [sid], as_of), k=5, history=history)
            slow = model.assess(supplier_features(history, [sid], as_of), k=5, history=history)
            assert_identical(fast, slow)
            bands.add(fast[0].band)
    assert "unknown" in bands
    assert len(bands) >= 3


def test_rows_path_equals_frame_path_in_a_batch(history: SupplierHistory, model: EsgModel) -> None:
    ids = history.supplier_ids
    rows = supplier_rows(history, ids, DATES[1])
    frame = supplier_features(history, ids, DATES[1])
    matrix = model.matrix_from_rows(rows)
    assert np.array_equal(matrix, model.matrix(frame), equal_nan=True)
    assert np.isnan(matrix).any()  # missing values (no deliveries, nothing to close) came up
    contributions = model.contributions_matrix(matrix)
    assert np.array_equal(contributions, model.contributions_matrix(model.matrix(frame)))
    assert_identical(
        model.assess_rows(rows, k=5, history=history), model.assess(frame, k=5, history=history)
    )
    # without a history the reasons carry no evidence, on both paths alike
    assert_identical(model.assess_rows(rows, k=3), model.assess(frame, k=3))


def test_the_screen_is_the_reference_screen(history: SupplierHistory, model: EsgModel) -> None:
    ids = history.supplier_ids
    screen = screen_suppliers(history, model, [*ids, "NOT-REGISTERED"], DATES[1], k=5)
    reference = model.assess(supplier_features(history, ids, DATES[1]), k=5, history=history)
    assert_identical([screen.assessments[sid] for sid in ids], reference)
    assert "NOT-REGISTERED" not in screen.assessments
    for sid in ids:
        gates = gates_for(history, sid, DATES[1])
        assert screen.knockouts.get(sid, []) == list(gates.knockouts)
        assert screen.restrictions.get(sid, []) == list(gates.restrictions)


def test_rows_path_rejects_what_the_frame_path_rejects(model: EsgModel) -> None:
    with pytest.raises(FeatureFrameError, match="lacks"):
        model.matrix_from_rows([{"env_penalty_count_36m": 1.0}])
    row: dict[str, object] = dict.fromkeys(model.feature_names, 1.0)
    row[model.feature_names[0]] = "many"
    with pytest.raises(FeatureFrameError, match="not numeric"):
        model.matrix_from_rows([row])
    assert model.matrix_from_rows([]).shape == (0, len(model.feature_names))
