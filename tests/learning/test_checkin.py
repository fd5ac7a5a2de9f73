"""The check-in detector on the small demo world, against the planted members."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.security import PersonalData
from core.settings import Settings
from features.learning.checkin import (
    CHECK_IN_COLUMNS,
    check_in_evidence,
    check_in_flags,
    detect_check_in,
    high_time_minutes,
)
from features.learning.kt_features import build_events
from store.database import Store
from training.check_in import check_in_metrics, read_check_in_truth


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


def test_a_few_members_flagged_alone_against_everyones_threshold(small_store: Store) -> None:
    """What the snapshot does for the members who just posted: their own evidence, the
    threshold of everyone's, the detector's rule; the flags must be the detector's."""
    events = build_events(small_store)
    detected = detect_check_in(events).set_index("member_key")
    threshold = high_time_minutes(check_in_evidence(events))
    flagged = detected.index[detected["flagged"]].tolist()
    assert flagged
    some = [*flagged[:3], *detected.index[~detected["flagged"]].tolist()[:3]]
    alone = check_in_evidence(events[events["member_key"].isin(some)])
    flags = check_in_flags(alone, high_time_minutes=threshold)
    assert flags.to_dict() == detected.loc[some, "flagged"].to_dict()
