"""The check-in detector on the small demo world, against the planted members."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.learning.checkin import CHECK_IN_COLUMNS, detect_check_in
from features.learning.kt_features import build_events
from features.security import PersonalData
from features.settings import Settings
from features.store import Store
from training.mastery import check_in_metrics, read_check_in_truth


def test_detector_finds_planted_members_better_than_chance(
    small_store: Store, small_installation: dict[str, str]
) -> None:
    settings = Settings(
        data_dir=Path(small_installation["LODESTAR_DATA_DIR"]),
        key_file=Path(small_installation["LODESTAR_KEY_FILE"]),
    )
    events = build_events(small_store)
    detected = detect_check_in(events)
    assert list(detected.columns[: len(CHECK_IN_COLUMNS)]) == list(CHECK_IN_COLUMNS)
    truth = read_check_in_truth(settings, PersonalData(settings.keyring()))
    assert truth is not None
    assert truth.any()
    metrics = check_in_metrics(detected, truth)
    base_rate = metrics["check_in.base_rate"]
    assert metrics["check_in.precision"] > 2 * base_rate
    assert metrics["check_in.recall"] > 0.5
    flagged = detected[detected["flagged"]]
    assert all(len(reasons) >= 2 for reasons in flagged["reasons"])


def test_window_without_study_gives_an_empty_frame(small_store: Store) -> None:
    events = build_events(small_store)
    empty = detect_check_in(events, start=pd.Timestamp("1990-01-01"), end="1990-02-01")
    assert empty.empty
