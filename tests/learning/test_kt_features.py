"""Knowledge-tracing features on tiny hand-computed sequences, and the no-future guarantee."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.learning.kt_features import (
    ACCURACY_PSEUDO_COUNT,
    EVENT_COLUMNS,
    PRIOR_ACCURACY,
    EventFrameError,
    build_events,
    response_features,
    sort_events,
)

T0 = pd.Timestamp("2025-03-01 08:00")


def event(member, minutes_after, kind, kp, correct=np.nan, item="q1", minutes=0.0, order=0):
    return {
        "member_key": member,
        "timestamp": T0 + pd.Timedelta(minutes=minutes_after),
        "order": order,
        "kind": kind,
        "item_id": item,
        "kp_id": kp,
        "correct": correct,
        "minutes": minutes,
        "stated_difficulty": 0.5,
    }


def tiny_events() -> pd.DataFrame:
    rows = [
        event("a", 0, "study", "K1", minutes=30.0, item="video"),
        event("a", 40, "response", "K1", 1.0, item="q1"),
        event("a", 41, "response", "K1", 0.0, item="q2"),
        event("a", 42, "response", "K2", 1.0, item="q3"),
        event("a", 60 * 24 * 2 + 41, "response", "K1", 1.0, item="q1"),
        event("b", 5, "response", "K1", 0.0, item="q1"),
    ]
    return sort_events(pd.DataFrame(rows))


def test_counts_accuracies_and_times_are_from_earlier_events_only() -> None:
    features = response_features(tiny_events())
    a = features.iloc[:4]  # member a's four responses, in time order
    assert a["kp_attempts"].tolist() == [0, 1, 0, 2]
    assert a["kp_successes"].tolist() == [0, 1, 0, 1]
    assert a["kp_failures"].tolist() == [0, 0, 0, 1]
    assert a["item_attempts"].tolist() == [0, 0, 0, 1]
    assert a["member_attempts"].tolist() == [0, 1, 2, 3]
    assert a["kp_study_minutes"].tolist() == [30.0, 30.0, 0.0, 30.0]
    assert a["member_study_minutes"].tolist() == [30.0] * 4
    pseudo = ACCURACY_PSEUDO_COUNT * PRIOR_ACCURACY
    assert a["member_accuracy"].iloc[3] == pytest.approx((2 + pseudo) / (3 + ACCURACY_PSEUDO_COUNT))
    # recency-weighted accuracy on K1 after (1, 0) with alpha 0.3 (adjusted weights 0.7, 1)
    assert a["kp_recent_accuracy"].iloc[3] == pytest.approx(0.7 / 1.7)
    assert np.isnan(a["kp_recent_accuracy"].iloc[0])
    # forgetting: last practice on K1 was the answer at +41 min, two days before
    assert a["days_since_kp_practice"].iloc[3] == pytest.approx(2.0)
    assert a["days_since_kp_practice"].iloc[0] == pytest.approx(40 / 1440)
    b = features.iloc[4]
    assert b["member_attempts"] == 0
    assert b["kp_attempts"] == 0


def test_appending_future_events_leaves_earlier_rows_unchanged() -> None:
    events = tiny_events()
    before = response_features(events)
    future = pd.DataFrame(
        [
            event("a", 60 * 24 * 10, "response", "K1", 0.0),
            event("a", 60 * 24 * 11, "study", "K2", minutes=50.0),
            event("b", 60 * 24 * 3, "response", "K1", 1.0),
        ]
    )
    combined = sort_events(pd.concat([events, future], ignore_index=True))
    after = response_features(combined)
    old = combined["timestamp"] <= events["timestamp"].max()
    old_rows = after.loc[old[after.index][old[after.index]].index]
    pd.testing.assert_frame_equal(
        old_rows.reset_index(drop=True), before.reset_index(drop=True), check_dtype=False
    )


def test_a_row_outcome_never_enters_its_own_features() -> None:
    events = tiny_events()
    flipped = events.assign(correct=1.0 - events["correct"])
    features, other = response_features(events), response_features(flipped)
    first_rows = events.groupby("member_key").head(1).index.intersection(features.index)
    pd.testing.assert_frame_equal(features.loc[first_rows], other.loc[first_rows])


def test_build_events_from_statements_expands_kps_and_splits_study_time() -> None:
    statements = pd.DataFrame(
        {
            "member_key": ["m", "m", "m", "m"],
            "verb": ["experienced", "answered", "completed", "launched"],
            "object_id": ["c/C1", "c/C1/questions/1", "c/C1", "c/C1"],
            "success": [None, True, None, None],
            "duration_seconds": [600.0, 30.0, 600.0, None],
            "knowledge_points": [["K1", "K2"], ["K1"], ["K1", "K2"], ["K1"]],
            "item_difficulty": [0.5, 0.4, 0.5, 0.5],
            "timestamp": pd.to_datetime(["2025-01-01 08:10", "2025-01-01 08:11"] * 2),
        }
    )
    events = build_events(statements)
    assert list(events.columns) == list(EVENT_COLUMNS)
    study = events[events["kind"] == "study"]
    assert sorted(study["kp_id"]) == ["K1", "K2"]
    assert study["minutes"].tolist() == [5.0, 5.0]  # 10 minutes shared by two KPs
    assert (events["kind"] == "response").sum() == 1  # completed and launched add nothing


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(EventFrameError):
        sort_events(tiny_events().assign(kind="watched"))


def test_member_without_answers_gets_the_same_features_alone_and_in_a_batch() -> None:
    newcomer = sort_events(
        pd.DataFrame(
            [
                event("c", 0, "study", "K1", minutes=10.0, item="video"),
                event("c", 5, "probe", "K1", item="probe:K1"),
            ]
        )
    )
    alone = response_features(newcomer)
    batch = response_features(sort_events(pd.concat([tiny_events(), newcomer])))
    in_batch = batch.loc[batch.index[-1:]].reset_index(drop=True)
    assert alone["kp_decayed_successes"].tolist() == [0.0]
    assert alone["kp_decayed_failures"].tolist() == [0.0]
    pd.testing.assert_frame_equal(alone.reset_index(drop=True), in_batch)
