"""The procurement source of the online layer: a history fed month by month by pushes equals
a full build on the same data, feature for feature; updated releases replace their process;
pushes are idempotent; readers keep the view they took."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.settings import Settings
from features.online.procurement import ProcurementSource
from features.online.source import OnlineFeatureStore, PushOutcome
from features.procurement.build import build_process_features, process_features
from features.procurement.history import (
    PROCUREMENT_TABLES,
    REPORTS_TABLE,
    SUPPLIER_COLUMNS,
    ProcurementHistory,
    load_procurement_frames,
)
from store.database import Store

# What a process says while its tender is open: no bids, awards or contracts yet.
TENDER_TABLES = ("processes", "items", "lots", "parties")
# Feature sums over events of equal time (or over supplier codes) may add in another order.
RTOL = 1e-9


@pytest.fixture(scope="module")
def frames(small_installation: dict[str, str]) -> dict[str, pd.DataFrame]:
    settings = Settings(
        data_dir=Path(small_installation["LODESTAR_DATA_DIR"]),
        key_file=Path(small_installation["LODESTAR_KEY_FILE"]),
    )
    with Store.open(settings, settings.keyring(), read_only=True) as store:
        return load_procurement_frames(store)


def _empty_source() -> ProcurementSource:
    empty = {"suppliers": pd.DataFrame(columns=list(SUPPLIER_COLUMNS))}
    return ProcurementSource(ProcurementHistory.from_frames(empty))


def _rows_of(frames: dict[str, pd.DataFrame], ocids: set[str], tables: tuple[str, ...]) -> dict:
    return {table: frames[table][frames[table]["ocid"].isin(ocids)] for table in tables}


def monthly_pushes(frames: dict[str, pd.DataFrame]) -> Iterator[dict[str, pd.DataFrame]]:
    """The world as the platform would push it: in the month a tender opens, the process as
    an open tender; in the month of its last release, the whole process (which replaces the
    tender). The register comes with the first push; members' reports with the push of the
    month they were submitted in (or the next push, the last one for the latest)."""
    processes = frames["processes"]
    opened = processes["tender_period_start"].fillna(processes["release_date"])
    tender_month = opened.dt.to_period("M")
    final_month = processes["release_date"].dt.to_period("M")
    months = sorted(set(tender_month) | set(final_month))
    reports = frames[REPORTS_TABLE]
    report_push = np.minimum(
        np.searchsorted(
            [m.start_time for m in months],
            pd.to_datetime(reports["submitted_at"]).dt.to_period("M").dt.start_time,
        ),
        len(months) - 1,
    )
    for k, month in enumerate(months):
        finals = set(processes.loc[final_month == month, "ocid"])
        tenders = set(processes.loc[(tender_month == month) & (final_month != month), "ocid"])
        batch = {
            table: pd.concat(
                [
                    _rows_of(frames, finals, (table,))[table],
                    *(
                        [_rows_of(frames, tenders, (table,))[table]]
                        if table in TENDER_TABLES
                        else []
                    ),
                ]
            )
            for table in PROCUREMENT_TABLES
        }
        if k == 0:
            batch["suppliers"] = frames["suppliers"]
        batch[REPORTS_TABLE] = reports[report_push == k]
        yield batch


def assert_same_features(history: ProcurementHistory, full: ProcurementHistory) -> None:
    ocids = sorted(full.ocid_codes)
    assert sorted(history.ocid_codes) == ocids
    pd.testing.assert_frame_equal(
        build_process_features(history, ocids=ocids),
        build_process_features(full, ocids=ocids),
        rtol=RTOL,
    )


def test_monthly_pushes_equal_a_full_build(frames: dict[str, pd.DataFrame]) -> None:
    source = _empty_source()
    outcomes = [source.push(batch) for batch in monthly_pushes(frames)]
    full = ProcurementHistory.from_frames(frames)
    history = source.view()
    assert_same_features(history, full)
    np.testing.assert_array_equal(history.fences.days, full.fences.days)
    np.testing.assert_array_equal(history.fences.r024_lower, full.fences.r024_lower)
    np.testing.assert_array_equal(history.fences.r058_upper, full.fences.r058_upper)
    # every process arrived once as new; those pushed first as open tenders changed later
    new = [ocid for outcome in outcomes for ocid in outcome.new]
    assert sorted(new) == sorted(full.ocid_codes)
    assert sum(len(outcome.changed) for outcome in outcomes) > 0
    assert source.version == len(outcomes)


def test_a_history_cut_at_a_date_catches_up(frames: dict[str, pd.DataFrame]) -> None:
    """Start as the service does, from a store cut at a date (the processes whose last
    release came before it), then push the later months."""
    processes = frames["processes"]
    months = processes["release_date"].dt.to_period("M")
    cut = sorted(set(months))[len(set(months)) // 2]
    stored = set(processes.loc[months < cut, "ocid"])
    reports = frames[REPORTS_TABLE]
    start = ProcurementHistory.from_frames(
        {
            **_rows_of(frames, stored, PROCUREMENT_TABLES),
            "suppliers": frames["suppliers"],
            REPORTS_TABLE: reports[pd.to_datetime(reports["submitted_at"]) < cut.start_time],
        }
    )
    source = ProcurementSource(start)
    late = [
        batch
        for batch in monthly_pushes(frames)
        if batch["processes"]["release_date"].min() >= cut.start_time
    ]
    for batch in late:
        source.push(batch)
    assert_same_features(source.view(), ProcurementHistory.from_frames(frames))


def _awarded_competitive(history: ProcurementHistory) -> str:
    assert history.records is not None
    record = next(r for r in history.records if r.awarded and len(r.bidders) >= 2 and r.winners)
    return record.ocid


def test_an_updated_release_replaces_its_process(frames: dict[str, pd.DataFrame]) -> None:
    full = ProcurementHistory.from_frames(frames)
    ocid = _awarded_competitive(full)
    winner = full.record(ocid).main_winner
    source = ProcurementSource(full)
    changed = {t: frames[t][frames[t]["ocid"] == ocid].copy() for t in PROCUREMENT_TABLES}
    changed["awards"]["value_amount"] = changed["awards"]["value_amount"] * 3.0

    outcome = source.push(changed)

    assert (outcome.new, outcome.changed) == ((), (ocid,))
    history = source.view()
    assert history.ocid_code(ocid) == full.ocid_code(ocid)
    own = history.ocid_code(ocid)
    awards = history.supplier_awards
    block = slice(awards.starts[awards.codes[winner]], awards.stops[awards.codes[winner]])
    amounts = awards.columns["amount"][block][awards.ocids[block] == own]
    old_amounts = full.supplier_awards.columns["amount"][
        slice(
            full.supplier_awards.starts[full.supplier_awards.codes[winner]],
            full.supplier_awards.stops[full.supplier_awards.codes[winner]],
        )
    ][full.supplier_awards.ocids[block] == own]
    np.testing.assert_allclose(amounts, old_amounts * 3.0)  # the older self's events are gone
    modified = {
        **frames,
        "awards": pd.concat(
            [frames["awards"][frames["awards"]["ocid"] != ocid], changed["awards"]]
        ),
    }
    assert_same_features(history, ProcurementHistory.from_frames(modified))


def test_pushing_the_same_rows_again_changes_nothing(frames: dict[str, pd.DataFrame]) -> None:
    source = _empty_source()
    first = next(monthly_pushes(frames))
    source.push(first)
    view = source.view()
    again = source.push(first)
    assert (again.new, again.changed) == ((), ())
    assert again.unchanged == first["processes"]["ocid"].nunique()
    assert source.view() is view
    assert source.version == 1


def test_a_reader_keeps_the_view_it_took(frames: dict[str, pd.DataFrame]) -> None:
    pushes = list(monthly_pushes(frames))
    source = _empty_source()
    for batch in pushes[:-1]:
        source.push(batch)
    before = source.view()
    assert before.records is not None
    record = before.records[-1]
    features = process_features(before, record)
    sizes = {name: len(getattr(before, name)) for name in ("prices", "supplier_bids", "orders")}

    source.push(pushes[-1])

    assert source.view() is not before
    assert {name: len(getattr(before, name)) for name in sizes} == sizes
    pd.testing.assert_series_equal(pd.Series(process_features(before, record)), pd.Series(features))


def test_rows_without_their_process_are_counted_not_applied(
    frames: dict[str, pd.DataFrame],
) -> None:
    source = _empty_source()
    ocid = str(frames["bids"]["ocid"].iloc[0])
    outcome = source.push({"bids": frames["bids"][frames["bids"]["ocid"] == ocid]})
    assert outcome.ignored_rows == int((frames["bids"]["ocid"] == ocid).sum()) > 0
    assert (outcome.new, outcome.changed) == ((), ())


class _Counting:
    """A second source, to check routing: records what it was pushed."""

    name = "counting"
    tables = frozenset({"statements"})

    def __init__(self) -> None:
        self.pushed: list[set[str]] = []

    @property
    def version(self) -> int:
        return len(self.pushed)

    def push(self, batch: Mapping[str, pd.DataFrame]) -> PushOutcome:
        self.pushed.append(set(batch))
        return PushOutcome(source=self.name, rows_in=sum(len(f) for f in batch.values()))

    def view(self) -> int:
        return len(self.pushed)


def test_the_store_routes_each_table_to_its_sources(frames: dict[str, pd.DataFrame]) -> None:
    counting = _Counting()
    online = OnlineFeatureStore([_empty_source(), counting])
    batch = {
        **next(monthly_pushes(frames)),
        "statements": pd.DataFrame({"statement_id": ["s1"]}),
        "members": pd.DataFrame({"member_key": ["m1"]}),
    }
    outcome = online.push(batch)
    assert set(outcome.outcomes) == {"procurement", "counting"}
    assert counting.pushed == [{"statements"}]
    assert outcome.unrouted_tables == ("members",)
    assert outcome["procurement"].new
    with pytest.raises(ValueError, match="two online sources"):
        OnlineFeatureStore([counting, counting])
