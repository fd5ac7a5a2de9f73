"""The study source of the online layer: statements fed week by week (weeks shuffled, so
rows arrive late) give every member the same rows and event frame (the mastery model's
input) as a full build on the same rows; a re-push changes nothing; readers keep the view
they took."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.settings import Settings
from features.online.source import OnlineFeatureStore
from features.online.study import STUDY_ROW_COLUMNS, StudySource, StudyView
from store.database import Store

RTOL = 1e-9


@pytest.fixture(scope="module")
def full_source(small_installation: dict[str, str]) -> StudySource:
    settings = Settings(
        data_dir=Path(small_installation["LODESTAR_DATA_DIR"]),
        key_file=Path(small_installation["LODESTAR_KEY_FILE"]),
    )
    with Store.open(settings, settings.keyring(), read_only=True) as store:
        return StudySource.from_store(store)


def _empty(full: StudyView) -> StudySource:
    return StudySource(StudyView.build(_rows(full).iloc[0:0], full.content, full.members))


def _rows(full: StudyView) -> pd.DataFrame:
    """Every statement row of the view, as the store's columns hold them."""
    return pd.concat(full.member_rows.values(), ignore_index=True)[list(STUDY_ROW_COLUMNS)]


def weekly_pushes(statements: pd.DataFrame, seed: int) -> Iterator[dict[str, pd.DataFrame]]:
    """The statements of each week in one push (store columns), the weeks shuffled."""
    week = pd.to_datetime(statements["timestamp"]).dt.to_period("W").astype(str)
    rng = np.random.default_rng(seed)
    for chosen in rng.permutation(sorted(set(week))):
        yield {"statements": statements[week == chosen][list(STUDY_ROW_COLUMNS)]}


def assert_same_state(view: StudyView, full: StudyView) -> None:
    assert sorted(view.member_rows) == sorted(full.member_rows)
    assert sorted(view.statements["statement_id"]) == sorted(full.statements["statement_id"])
    for member in full.member_rows:
        pd.testing.assert_frame_equal(view.member_rows[member], full.member_rows[member])
        mine, theirs = view.events_of(member), full.events_of(member)
        pd.testing.assert_frame_equal(mine, theirs, check_exact=False, rtol=RTOL)


def test_the_small_world_has_statements(full_source: StudySource) -> None:
    view = full_source.view()
    assert len(view.statements) > 1000
    assert len(view.member_rows) > 10
    assert not view.events().empty


@pytest.mark.parametrize("seed", [0, 1])
def test_weekly_pushes_in_any_order_equal_a_full_build(full_source: StudySource, seed: int) -> None:
    full = full_source.view()
    source = _empty(full)
    for batch in weekly_pushes(_rows(full), seed):
        outcome = source.push(batch)
        assert outcome.new == tuple(sorted(set(batch["statements"]["member_key"])))
    assert source.version > 10
    assert_same_state(source.view(), full)
    # the learning data the recommender's snapshots read holds the same rows
    pd.testing.assert_frame_equal(
        source.view().learning.events(), full.learning.events(), check_exact=False, rtol=RTOL
    )


def test_a_repush_changes_nothing_and_old_views_stay(full_source: StudySource) -> None:
    full = full_source.view()
    source = _empty(full)
    store = OnlineFeatureStore([source])
    pushes = list(weekly_pushes(_rows(full), 0))
    half = len(pushes) // 2
    for batch in pushes[:half]:
        store.push(batch)
    taken = source.view()
    member = sorted(taken.member_rows)[0]
    events_before = taken.events_of(member)
    for batch in pushes[half:]:
        store.push(batch)
    assert taken.events_of(member) is events_before  # the view taken is unchanged
    before, version = source.view(), source.version
    for batch in pushes:
        outcome = store.push(batch)["study"]
        assert outcome.touched == ()
        assert outcome.unchanged == len(batch["statements"])
    assert source.version == version
    assert source.view() is before
    assert_same_state(before, full)


def test_members_and_content_replace_their_rows_by_key(full_source: StudySource) -> None:
    full = full_source.view()
    source = StudySource(full)
    again = source.push({"members": full.members, "content": full.content})
    assert again.version == 0
    assert source.view() is full
    newcomer = full.members.iloc[[0]].assign(member_key="newcomer", role="operator")
    source.push({"members": newcomer})
    view = source.view()
    assert "newcomer" in view.member_keys
    assert len(view.members) == len(full.members) + 1
    assert view.member_rows is full.member_rows  # statements untouched
    moved = full.members.iloc[[0]].assign(role="inspector")
    source.push({"members": moved})
    roles = source.view().members.set_index("member_key")["role"]
    assert roles[str(full.members.iloc[0]["member_key"])] == "inspector"
    assert "inspector" not in set(full.members["role"])  # the old view is untouched
