"""Updating a few members' rows of a snapshot against its population (``with_members``) gives
what a full ``Snapshot.build`` gives for them, on the small demo world."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.learning.data import LearningData
from features.learning.snapshot import Snapshot
from models.learning.mastery import MasteryModel

CUT = datetime(2026, 1, 1)  # the day after the last statement: some members are flagged
# rows that come from the member's own statements only
OWN = (
    "launched",
    "ever_launched",
    "completed",
    "p_correct",
    "attempts",
    "days_since_practised",
    "time_ratio",
    "kp_interest",
)
# rows that also read the population (item-item weights, role shares, check-in threshold)
WITH_POPULATION = ("cooccurrence", "ease", "format_share", "check_in")
ROWS = (*OWN, *WITH_POPULATION)
# the population parts a snapshot shows (besides ``population`` itself): held, not recomputed
POPULATION_PARTS = ("role_popularity", "engagement", "recent_popularity", "item_users")
HELD_PARTS = ("recent_popularity", "item_users")  # fields; the others are read from it


@pytest.fixture(scope="module")
def data(small_learning_data: LearningData) -> LearningData:
    return small_learning_data


@pytest.fixture(scope="module")
def mastery(data: LearningData) -> MasteryModel:
    events = data.events()
    return MasteryModel(n_estimators=30, min_data_in_leaf=20).fit(
        events[events["timestamp"] < pd.Timestamp(CUT)]
    )


@pytest.fixture(scope="module")
def before(data: LearningData, mastery: MasteryModel) -> Snapshot:
    return Snapshot.build(data, CUT, mastery=mastery)


def chosen_members(snapshot: Snapshot) -> list[str]:
    """The most active member, two flagged "check-in without absorption" and the least
    active one: every kind of row the update must get right."""
    launches = snapshot.n_launches
    flagged = [snapshot.member_keys[i] for i in np.flatnonzero(snapshot.check_in)[:2]]
    return list(
        dict.fromkeys(
            [
                snapshot.member_keys[int(launches.argmax())],
                *flagged,
                snapshot.member_keys[int(launches.argmin())],
            ]
        )
    )


def posted(
    snapshot: Snapshot, data: LearningData, members: list[str], when: datetime
) -> LearningData:
    """``data`` plus a study session per member at ``when``: an unlaunched item launched,
    studied for 25 minutes, completed, and four answers (three wrong) on its first KP."""
    rows: list[dict[str, Any]] = []
    for n, key in enumerate(members):
        row = snapshot.member_index[key]
        unseen = np.flatnonzero(~snapshot.ever_launched[row] & (snapshot.item_kp.sum(axis=1) > 0))
        column = int(unseen[n % len(unseen)])
        item = snapshot.items[column]
        kps = [snapshot.kps[j] for j in np.flatnonzero(snapshot.item_kp[column])]
        session = {
            "member_key": key,
            "content_id": item,
            "object_id": f"https://lodestar.invalid/content/{item}",
            "knowledge_points": kps,
            "success": None,
            "duration_seconds": None,
            "item_difficulty": np.nan,
        }
        steps: list[tuple[str, int, dict[str, Any]]] = [
            ("launched", 0, {}),
            ("experienced", 25, {"duration_seconds": 1500.0}),
            ("completed", 25, {}),
            *(
                ("answered", 26 + i, {"success": i == 3, "knowledge_points": kps[:1]})
                for i in range(4)
            ),
        ]
        rows += [
            session
            | {"verb": verb, "timestamp": pd.Timestamp(when) + pd.Timedelta(minutes=minute)}
            | values
            for verb, minute, values in steps
        ]
    extra = pd.DataFrame(rows)
    return LearningData(
        pd.concat([data.statements, extra[list(data.statements.columns)]], ignore_index=True),
        data.content,
        data.members,
    )


def assert_rows_equal(got: Snapshot, expected: Snapshot, members: list[str], names) -> None:
    rows = [expected.member_index[key] for key in members]
    for name in names:
        np.testing.assert_allclose(
            np.asarray(getattr(got, name)[rows], dtype=float),
            np.asarray(getattr(expected, name)[rows], dtype=float),
            rtol=1e-9,
            atol=1e-12,
            err_msg=name,
        )


@pytest.mark.parametrize("with_model", [True, False], ids=["mastery-model", "stand-in"])
def test_updated_rows_equal_a_full_build(
    data: LearningData, mastery: MasteryModel, with_model: bool
) -> None:
    model = mastery if with_model else None
    old = Snapshot.build(data, CUT, mastery=model)
    members = chosen_members(old)
    new_data = posted(old, data, members, CUT - timedelta(hours=2))
    full = Snapshot.build(new_data, CUT, mastery=model)
    assert full.extras["check_in_source"] == ("detect_check_in" if with_model else "time_ratio")
    assert old.check_in[[old.member_index[key] for key in members]].any()

    # the old rows against the new population: every row of the members is recomputed
    # (role popularity and engagement are read from the population)
    parts = {name: getattr(full, name) for name in HELD_PARTS}
    hybrid = dataclasses.replace(old, population=full.population, **parts)
    updated = hybrid.with_members(new_data, members)
    assert_rows_equal(updated, full, members, ROWS)
    assert updated.population is full.population
    assert updated.as_of == full.as_of

    # the old population kept: the members' own rows are the full build's all the same
    # (the stand-in's P(correct) is not their own: it shrinks towards everyone's rate)
    kept = old.with_members(new_data, members)
    own = OWN if with_model else tuple(name for name in OWN if name != "p_correct")
    assert_rows_equal(kept, full, members, own)
    assert kept.population is old.population
    rows = [old.member_index[key] for key in members]
    assert (kept.n_launches[rows] == old.n_launches[rows] + 1).all()
    assert not np.allclose(kept.p_correct[rows], old.p_correct[rows])
    others = np.setdiff1d(np.arange(len(old.member_keys)), rows)
    for name in ROWS:
        np.testing.assert_array_equal(getattr(kept, name)[others], getattr(old, name)[others])
        assert getattr(kept, name) is not getattr(old, name)  # the parent is left as it was
    for name in HELD_PARTS:
        assert getattr(kept, name) is getattr(old, name)
    for name in POPULATION_PARTS:
        np.testing.assert_array_equal(getattr(kept, name), getattr(old, name))


def test_rows_at_a_later_moment_count_the_later_statements(
    data: LearningData, mastery: MasteryModel, before: Snapshot
) -> None:
    """The service's first request of a new hour: the population is the previous hour's
    until the background build ends, the poster's rows are computed at the new hour."""
    members = chosen_members(before)[:1]
    later = CUT + timedelta(hours=1)
    new_data = posted(before, data, members, CUT + timedelta(minutes=5))
    unchanged = before.with_members(new_data, members)
    row = before.member_index[members[0]]
    assert unchanged.n_launches[row] == before.n_launches[row]  # posted after CUT

    moved = before.with_members(new_data, members, as_of=later)
    assert moved.as_of == later
    assert moved.population.as_of == pd.Timestamp(CUT)
    assert moved.n_launches[row] == before.n_launches[row] + 1
    full = Snapshot.build(new_data, later, mastery=mastery)
    assert_rows_equal(moved, full, members, OWN)


def test_unknown_members_are_skipped(data: LearningData, before: Snapshot) -> None:
    same = before.with_members(data, ["no-such-member"])
    assert same.launched is before.launched
    assert same.as_of == before.as_of
