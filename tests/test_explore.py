"""The exploration queries on a small ingested world: totals that must agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from store.database import Store
from world import explore


def test_monthly_volumes_add_up_to_the_processes(small_store: Store) -> None:
    volumes = explore.monthly_volumes(small_store)
    assert volumes["processes"].sum() == small_store.count("processes")
    assert volumes["method"].nunique() >= 3


def test_price_index_starts_at_100(small_store: Store) -> None:
    prices = explore.category_price_index(small_store, min_items=1)
    assert not prices.empty
    firsts = prices.groupby("category")["price_index"].first()
    assert firsts.round(9).eq(100).all()


def test_study_shares_sum_to_one_per_pattern(small_store: Store) -> None:
    by_shift = explore.study_by_shift(small_store)
    assert set(by_shift["hour"]) <= set(range(24))
    assert by_shift.groupby("shift_pattern")["share"].sum().round(9).eq(1).all()
    assert by_shift["statements"].sum() == small_store.count("statements")


def test_planted_schemes_are_partly_audited(
    small_store: Store, small_installation: dict[str, str]
) -> None:
    truth_dir = Path(small_installation["LODESTAR_DATA_DIR"]) / "truth"
    schemes = explore.planted_schemes(small_store, truth_dir)
    assert len(schemes) >= 5
    assert (schemes["audited"] <= schemes["processes"]).all()
    assert 0 < schemes["audited"].sum() < schemes["processes"].sum()


@pytest.mark.parametrize("column", ["logged_minutes", "answers"])
def test_effort_per_member(small_store: Store, column: str) -> None:
    effort = explore.study_effort_and_results(small_store)
    assert len(effort) == effort["member_key"].nunique()
    assert (effort[column].fillna(0) >= 0).all()


def test_members_with_truth_join_through_the_pseudonym(
    small_store: Store, small_installation: dict[str, str]
) -> None:
    from core.security import PersonalData
    from core.settings import Settings

    settings = Settings(
        data_dir=Path(small_installation["LODESTAR_DATA_DIR"]),
        key_file=Path(small_installation["LODESTAR_KEY_FILE"]),
    )
    effort = explore.study_effort_and_results(small_store)
    joined = explore.members_with_truth(
        effort, settings.resolved_truth_dir, PersonalData(settings.keyring())
    )
    assert len(joined) == len(effort)
    assert joined["check_in_only"].notna().all()
    check_in = joined[joined["check_in_only"]]
    others = joined[~joined["check_in_only"]]
    assert check_in["logged_minutes"].median() > others["logged_minutes"].median()
