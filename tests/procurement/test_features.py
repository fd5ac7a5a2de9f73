"""Procurement features: columns, point-in-time correctness (by shifting history), hand-built
cases, one code path for batch and online, clear errors, and separation of the planted schemes.
"""

from __future__ import annotations

import copy
import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.security import PersonalData
from core.settings import Settings
from features.procurement.build import (
    OUTPUT_COLUMNS,
    ReleaseError,
    build_process_features,
    features_for_release,
    process_features,
    tender_screens,
)
from features.procurement.history import (
    ProcurementHistory,
    load_procurement_frames,
)
from features.procurement.redflags import flags_for_process
from features.procurement.screens import bid_screens
from features.procurement.specs import (
    CATEGORICAL_FEATURES,
    FEATURE_NAMES,
    FEATURES,
    IDENTITY_COLUMNS,
)
from ingest.readers.ocds import TABLE_COLUMNS, ReleaseFlattener
from store.database import Store

# --------------------------------------------------------------------------------------------
# Fixtures: the small world's store, its history and its batch features (built once)


@pytest.fixture(scope="module")
def installation_settings(small_installation: dict[str, str]) -> Settings:
    return Settings(
        data_dir=Path(small_installation["LODESTAR_DATA_DIR"]),
        key_file=Path(small_installation["LODESTAR_KEY_FILE"]),
    )


@pytest.fixture(scope="module")
def world_personal(installation_settings: Settings) -> PersonalData:
    return PersonalData(installation_settings.keyring())


@pytest.fixture(scope="module")
def world_frames(installation_settings: Settings) -> dict[str, pd.DataFrame]:
    with Store.open(
        installation_settings, installation_settings.keyring(), read_only=True
    ) as store:
        return load_procurement_frames(store)


@pytest.fixture(scope="module")
def world_history(
    world_frames: dict[str, pd.DataFrame],
    installation_settings: Settings,
    world_personal: PersonalData,
) -> ProcurementHistory:
    return ProcurementHistory.from_frames(
        world_frames, settings=installation_settings, personal=world_personal
    )


@pytest.fixture(scope="module")
def world_features(world_history: ProcurementHistory) -> pd.DataFrame:
    return build_process_features(world_history)


@pytest.fixture(scope="module")
def world_releases(installation_settings: Settings) -> dict[str, dict[str, Any]]:
    path = installation_settings.resolved_world_dir / "procurement" / "releases.jsonl"
    with path.open(encoding="utf-8") as handle:
        releases = [json.loads(line) for line in handle if line.strip()]
    return {release["ocid"]: release for release in releases}


@pytest.fixture(scope="module")
def schemes(installation_settings: Settings) -> dict[str, str]:
    """Planted scheme per ocid (tests may read the truth; features never do)."""
    path = installation_settings.resolved_truth_dir / "process_schemes.csv"
    with path.open(encoding="utf-8") as handle:
        return {row["ocid"]: row["scheme"] for row in csv.DictReader(handle)}


def assert_same_values(left: pd.Series, right: pd.Series, *, rel: float = 0.0) -> None:
    """Equal feature rows (NaN equals NaN; floats within ``rel``)."""
    for name in left.index:
        a, b = left[name], right[name]
        if isinstance(a, float) and isinstance(b, float):
            if math.isnan(a) or math.isnan(b):
                assert math.isnan(a), name
                assert math.isnan(b), name
            else:
                assert a == pytest.approx(b, rel=rel, abs=rel), name
        elif isinstance(a, (list, np.ndarray)):
            assert list(a) == list(b), name
        elif pd.isna(a) if not isinstance(b, (list, np.ndarray)) else False:
            assert pd.isna(b), name
        else:
            assert a == b, name


# --------------------------------------------------------------------------------------------
# Hand-built releases


def release(
    ocid: str,
    day: str,
    *,
    buyer: str = "BUY-01",
    supplier: str | None = "SUP-A",
    amount: float = 45_000.0,
    category: str = "M99",
    method: str = "limited",
    bidders: tuple[str, ...] = (),
    phones: dict[str, str] | None = None,
    quantity: float = 10.0,
) -> dict[str, Any]:
    """A small compiled release: one item, an award on ``day`` (none if ``supplier`` is None),
    bids from ``bidders`` (the first bids ``amount``, the others more)."""
    tender: dict[str, Any] = {
        "id": f"T-{ocid}",
        "status": "complete",
        "procurementMethod": method,
        "procurementMethodDetails": "询价",
        "value": {"amount": amount, "currency": "CNY"},
        "items": [
            {
                "id": "1",
                "description": f"{category} spec A",
                "classification": {"scheme": "LODESTAR-MAT", "id": category},
                "quantity": quantity,
                "unit": {"name": "件", "value": {"amount": amount / quantity, "currency": "CNY"}},
            }
        ],
        "tenderPeriod": {"startDate": f"{day}T00:00:00+08:00", "endDate": f"{day}T09:00:00+08:00"},
    }
    data: dict[str, Any] = {
        "ocid": ocid,
        "id": f"{ocid}-compiled",
        "date": f"{day}T17:00:00+08:00",
        "tag": ["compiled"],
        "buyer": {"id": buyer, "name": "某矿物资供应站"},
        "tender": tender,
        "parties": [],
    }
    if bidders:
        data["bids"] = {
            "details": [
                {
                    "id": f"BID-{k}",
                    "date": f"{day}T08:00:00+08:00",
                    "status": "valid",
                    "value": {"amount": amount * (1 + 0.03 * k), "currency": "CNY"},
                    "tenderers": [{"id": bidder, "name": f"公司{bidder}"}],
                }
                for k, bidder in enumerate(bidders)
            ]
        }
        for bidder in bidders:
            party: dict[str, Any] = {"id": bidder, "name": f"公司{bidder}", "roles": ["tenderer"]}
            if phones and bidder in phones:
                party["contactPoint"] = {"name": "张三", "telephone": phones[bidder]}
            data["parties"].append(party)
    if supplier is not None:
        data["awards"] = [
            {
                "id": "AWD-01",
                "date": f"{day}T16:00:00+08:00",
                "status": "active",
                "value": {"amount": amount, "currency": "CNY"},
                "suppliers": [{"id": supplier, "name": f"公司{supplier}"}],
            }
        ]
    return data


def frames_from_releases(
    releases: list[dict[str, Any]], personal: PersonalData, suppliers: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """Store-shaped frames of hand-built releases, through the OCDS reader's flattener."""
    flattener = ReleaseFlattener(personal)
    rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in TABLE_COLUMNS}
    for data in releases:
        for name, table_rows in flattener.rows(data["ocid"], data).items():
            rows[name].extend(table_rows)
    frames = {
        name: pd.DataFrame.from_records(table_rows, columns=list(TABLE_COLUMNS[name]))
        for name, table_rows in rows.items()
    }
    frames["suppliers"] = suppliers
    return frames


def register(*supplier_ids: str, **shared: tuple[str, ...]) -> pd.DataFrame:
    """Suppliers with distinct fingerprints, except ``kind=(a, b)`` pairs sharing one."""
    frame = pd.DataFrame(
        {
            "supplier_id": list(supplier_ids),
            "phone_fingerprint": [f"phone-{s}" for s in supplier_ids],
            "address_fingerprint": [f"address-{s}" for s in supplier_ids],
            "legal_representative_fingerprint": [f"person-{s}" for s in supplier_ids],
            "bank_account_fingerprint": [f"bank-{s}" for s in supplier_ids],
        }
    )
    for kind, members in shared.items():
        column = f"{kind}_fingerprint"
        frame.loc[frame["supplier_id"].isin(members), column] = f"shared-{kind}"
    return frame


# --------------------------------------------------------------------------------------------
# Columns and specs


def test_every_feature_is_a_column_and_identity_is_not_a_feature(small_store: Store) -> None:
    history = ProcurementHistory.from_store(small_store)
    frame = build_process_features(history)
    assert list(frame.columns) == OUTPUT_COLUMNS == [*IDENTITY_COLUMNS, *FEATURE_NAMES]
    assert not set(IDENTITY_COLUMNS) & set(FEATURES)
    assert set(CATEGORICAL_FEATURES) <= set(FEATURES)
    assert len(frame) == small_store.count("processes")
    assert frame["ocid"].is_unique
    numeric = [name for name in FEATURE_NAMES if name not in CATEGORICAL_FEATURES]
    assert all(frame[name].dtype == np.float64 for name in numeric)
    assert frame["decision_date"].notna().all()
    # no feature is missing everywhere (some rare flags never fire in so small a world)
    assert not [name for name in FEATURE_NAMES if frame[name].isna().all()]


def test_every_spec_renders_its_sentences() -> None:
    for spec in FEATURES.values():
        value: float | str = "open" if spec.categorical else 1.5
        for language in ("en", "zh"):
            assert spec.sentence(value, language)
            assert "{" not in spec.sentence(value, language)
        assert spec.sentence(float("nan"), "zh").endswith("未知")
        assert spec.description_en
        assert spec.description_zh
        assert spec.unit
    sentence = FEATURES["unit_price_to_category_median_180d"].sentence(2.3, "zh")
    assert "2.3倍" in sentence


# --------------------------------------------------------------------------------------------
# Point in time, proved by shifting history


def shifted_copies(
    frames: dict[str, pd.DataFrame], ocids: list[str], offset: pd.Timedelta, prefix: str
) -> dict[str, pd.DataFrame]:
    """The rows of ``ocids`` in every procurement table, with new ocids and every date moved
    by ``offset``; unit prices and amounts tripled in half of them (to move medians)."""
    extra = {}
    tripled = set(ocids[::2])
    for table in TABLE_COLUMNS:
        rows = frames[table][frames[table]["ocid"].isin(ocids)].copy()
        money = [
            c for c in ("value_amount", "unit_value_amount", "tender_value_amount") if c in rows
        ]
        for column in money:
            rows.loc[rows["ocid"].isin(tripled), column] *= 3
        for column in rows.columns:
            if pd.api.types.is_datetime64_any_dtype(rows[column].dtype):
                rows[column] = rows[column] + offset
        rows["ocid"] = prefix + rows["ocid"].astype(str)
        extra[table] = rows
    return extra


def test_features_before_a_cut_ignore_everything_added_after_it(
    world_frames: dict[str, pd.DataFrame],
    world_history: ProcurementHistory,
    world_features: pd.DataFrame,
    installation_settings: Settings,
) -> None:
    dates = world_features["decision_date"]
    cut = dates.quantile(0.5)
    # copy the first 300 processes (same buyers, suppliers, categories) to just after the cut
    processes = world_frames["processes"]
    early = list(processes.sort_values("tender_period_start")["ocid"].head(300))
    earliest = min(
        frame.loc[frame["ocid"].isin(early), column].min()
        for table, frame in world_frames.items()
        if table in TABLE_COLUMNS
        for column in frame.columns
        if pd.api.types.is_datetime64_any_dtype(frame[column].dtype)
        and column not in ("ingested_at",)
    )
    offset = (cut - earliest) + pd.Timedelta(hours=1)
    extra = shifted_copies(world_frames, early, offset, "FAB-")
    shifted = {
        table: pd.concat([frame, extra[table]], ignore_index=True) if table in extra else frame
        for table, frame in world_frames.items()
    }
    history = ProcurementHistory.from_frames(shifted, settings=installation_settings)
    after = build_process_features(history, ocids=list(world_features["ocid"]))

    before_cut = (dates < cut).to_numpy()
    assert before_cut.sum() > 300
    old = world_features[before_cut].reset_index(drop=True)
    new = after[before_cut].reset_index(drop=True)
    pd.testing.assert_frame_equal(old, new, check_exact=True)

    later_old = world_features[~before_cut].reset_index(drop=True)
    later_new = after[~before_cut].reset_index(drop=True)
    changed = [name for name in FEATURE_NAMES if not later_old[name].equals(later_new[name])]
    # the fabricated processes are seen by processes after the cut, in many families
    for name in (
        "unit_price_to_category_median_180d",
        "buyer_spend_hhi_365d",
        "supplier_bid_count_365d",
        "bidder_group_shared_tenders_365d",
    ):
        assert name in changed


def test_the_process_itself_never_counts_as_its_own_history(
    world_history: ProcurementHistory, world_features: pd.DataFrame
) -> None:
    """As of a day after its decision, a stored process still excludes itself: the same
    features as a copy of it sent under a new ocid."""
    eligible = world_features["order_value_to_approval_threshold"].notna() & (
        world_features["supplier_ids"].map(len) == 1
    )
    row = world_features[eligible].iloc[10]
    record = world_history.record(row["ocid"])
    later = row["decision_date"] + pd.Timedelta(days=1)
    own = process_features(world_history, record, as_of=later)
    copied = copy.copy(record)
    copied.ocid = "COPY-" + record.ocid
    other = process_features(world_history, copied, as_of=later)
    for name in ("split_purchase_count_30d", "buyer_supplier_award_count_365d"):
        assert other[name] == own[name] + 1, name


def test_decision_date_is_the_award_or_the_last_contract_amendment(
    world_history: ProcurementHistory, world_features: pd.DataFrame
) -> None:
    assert world_history.records is not None
    amended = [r for r in world_history.records if r.contract_amendment_dates]
    assert amended
    by_ocid = world_features.set_index("ocid")
    for record in amended:
        assert record.decision_date == max(record.contract_amendment_dates)
        assert record.award_date is not None
        assert record.award_date < record.decision_date
        assert by_ocid.loc[record.ocid, "contract_amendment_count"] == len(
            record.contract_amendment_dates
        )
    plain = [r for r in world_history.records if r.awarded and not r.contract_amendment_dates]
    assert all(r.decision_date == r.award_date for r in plain)
    assert (by_ocid.loc[[r.ocid for r in plain], "contract_value_growth"] == 1.0).all()
    # scored before its amendments, an amended contract knows none of them
    award_date = amended[0].award_date
    assert award_date is not None
    early = process_features(world_history, amended[0], as_of=pd.Timestamp(award_date))
    assert early["contract_amendment_count"] == 0
    assert math.isnan(early["contract_value_growth"])


# --------------------------------------------------------------------------------------------
# Hand-built cases


def test_split_purchase_three_orders_under_the_threshold(personal: PersonalData) -> None:
    releases = [
        release("SP-1", "2025-03-01"),
        release("SP-2", "2025-03-10"),
        release("SP-3", "2025-03-25"),
        release("SP-4", "2025-05-20"),  # outside the 30-day window
        release("SP-5", "2025-03-12", supplier="SUP-B"),  # another supplier
        release("SP-6", "2025-03-14", category="M98"),  # another category
    ]
    history = ProcurementHistory.from_frames(
        frames_from_releases(releases, personal, register("SUP-A", "SUP-B"))
    )
    frame = build_process_features(history).set_index("ocid")
    third = frame.loc["SP-3"]
    assert third["split_purchase_count_30d"] == 3
    assert third["split_purchase_sum_to_threshold_30d"] == pytest.approx(135_000 / 50_000)
    assert third["split_purchase_over_threshold_30d"] == 1
    assert third["order_value_to_approval_threshold"] == pytest.approx(0.9)
    assert frame.loc["SP-1", "split_purchase_count_30d"] == 1
    assert frame.loc["SP-1", "split_purchase_over_threshold_30d"] == 0
    assert frame.loc["SP-2", "split_purchase_count_30d"] == 2
    assert frame.loc["SP-2", "split_purchase_over_threshold_30d"] == 1
    for alone in ("SP-4", "SP-5", "SP-6"):
        assert frame.loc[alone, "split_purchase_count_30d"] == 1
        assert frame.loc[alone, "split_purchase_over_threshold_30d"] == 0
    # an order in the next band up (>= 50,000) does not join the orders under 50,000
    big = release("SP-7", "2025-03-26", amount=60_000.0)
    history = ProcurementHistory.from_frames(
        frames_from_releases([*releases, big], personal, register("SUP-A", "SUP-B"))
    )
    seventh = build_process_features(history, ocids=["SP-7"]).iloc[0]
    assert seventh["split_purchase_count_30d"] == 1
    assert seventh["order_value_to_approval_threshold"] == pytest.approx(60_000 / 500_000)


def test_related_bidders_sharing_a_phone_are_found(personal: PersonalData) -> None:
    bidders = ("SUP-A", "SUP-B", "SUP-C", "SUP-D")
    releases = [
        release("RB-1", "2025-04-01", bidders=bidders),
        release(
            "RB-2",
            "2025-04-02",
            bidders=bidders,
            phones={"SUP-C": "0477-8123456", "SUP-D": "0477 812 3456"},
        ),
        release("RB-3", "2025-04-03", bidders=("SUP-A", "SUP-C")),
    ]
    suppliers = register(*bidders, phone=("SUP-A", "SUP-B"), bank_account=("SUP-B", "SUP-D"))
    history = ProcurementHistory.from_frames(frames_from_releases(releases, personal, suppliers))
    frame = build_process_features(history).set_index("ocid")
    assert frame.loc["RB-1", "related_bidder_pairs_phone"] == 1
    assert frame.loc["RB-1", "related_bidder_pairs_bank_account"] == 1
    assert frame.loc["RB-1", "related_bidder_pairs_address"] == 0
    assert frame.loc["RB-1", "any_related_bidders"] == 1
    # contact-point telephones in the release itself (normalised before fingerprinting)
    assert frame.loc["RB-2", "related_bidder_pairs_phone"] == 2
    assert frame.loc["RB-3", "any_related_bidders"] == 0
    assert frame.loc["RB-3", "related_bidder_pairs_phone"] == 0


def test_tripling_the_unit_price_raises_the_price_ratios(
    world_history: ProcurementHistory,
    world_features: pd.DataFrame,
    world_releases: dict[str, dict[str, Any]],
) -> None:
    candidates = world_features.dropna(
        subset=["unit_price_to_category_median_180d", "unit_price_to_spec_median_180d"]
    )
    for ocid in candidates["ocid"].head(20):
        data = copy.deepcopy(world_releases[ocid])
        base = features_for_release(world_history, data).iloc[0]
        for item in data["tender"]["items"]:
            item["unit"]["value"]["amount"] *= 3
        raised = features_for_release(world_history, data).iloc[0]
        for name in ("unit_price_to_category_median_180d", "unit_price_to_spec_median_180d"):
            assert raised[name] == pytest.approx(3 * base[name], rel=1e-9), name
        unchanged = [n for n in FEATURE_NAMES if "unit_price" not in n]
        assert_same_values(base[unchanged], raised[unchanged])


def test_renaming_a_supplier_changes_nothing(
    world_history: ProcurementHistory,
    world_features: pd.DataFrame,
    world_releases: dict[str, dict[str, Any]],
) -> None:
    with_bids = world_features[world_features["bid_count"] >= 3]["ocid"].head(20)
    for ocid in with_bids:
        data = copy.deepcopy(world_releases[ocid])
        renamed = copy.deepcopy(data)
        for party in renamed["parties"]:
            party["name"] = "改名后的公司"
            if "identifier" in party:
                party["identifier"]["legalName"] = "改名后的公司"
        for award in renamed.get("awards", []):
            for supplier in award["suppliers"]:
                supplier["name"] = "改名后的公司"
        for bid in renamed.get("bids", {}).get("details", []):
            for tenderer in bid["tenderers"]:
                tenderer["name"] = "改名后的公司"
        assert_same_values(
            features_for_release(world_history, data).iloc[0],
            features_for_release(world_history, renamed).iloc[0],
        )


# --------------------------------------------------------------------------------------------
# One code path: batch row == online row


def test_a_release_from_the_world_gives_its_batch_row(
    world_history: ProcurementHistory,
    world_features: pd.DataFrame,
    world_releases: dict[str, dict[str, Any]],
    schemes: dict[str, str],
) -> None:
    rng = np.random.default_rng(7)
    sample = list(rng.choice(world_features["ocid"], size=60, replace=False))
    sample += sorted(set(schemes) & set(world_features["ocid"]))[:40]
    batch = world_features.set_index("ocid", drop=False)
    for ocid in sample:
        online = features_for_release(world_history, world_releases[ocid])
        assert list(online.columns) == list(world_features.columns)
        assert_same_values(online.iloc[0], batch.loc[ocid], rel=1e-12)


def test_the_fast_tender_screens_equal_bid_screens(world_frames: dict[str, pd.DataFrame]) -> None:
    """Every tender (every lot of a multi-lot process) of the world, against ``bid_screens``."""
    bids = world_frames["bids"]
    bids = bids[bids["value_amount"] > 0].copy()
    bids["lot"] = bids["related_lots"].map(lambda lots: lots[0] if len(lots) else "")
    bids["tender"] = bids["ocid"] + "|" + bids["lot"]
    tender_values = world_frames["processes"].set_index("ocid")["tender_value_amount"]
    lots = world_frames["lots"]
    lot_values = dict(zip(lots["ocid"] + "|" + lots["lot_id"], lots["value_amount"], strict=True))
    multi_lot = bids.groupby("ocid")["lot"].transform("nunique") > 1
    bids["estimate"] = np.where(
        multi_lot, bids["tender"].map(lot_values), bids["ocid"].map(tender_values)
    )
    assert multi_lot.any()
    reference = bid_screens(
        bids, tender_col="tender", price_col="value_amount", estimate_col="estimate"
    )
    for tender, group in bids.groupby("tender"):
        fast = tender_screens(list(group["value_amount"]), float(group["estimate"].iloc[0]))
        expected_row = reference.loc[tender].to_numpy(dtype=np.float64)
        for name, value in fast.items():
            expected = float(expected_row[reference.columns.get_loc(name)])
            if math.isnan(expected):
                assert math.isnan(value), (tender, name)
            else:
                assert value == pytest.approx(expected, rel=1e-9, abs=1e-12), (tender, name)


def test_cardinal_flags_from_the_record_equal_those_from_the_release(
    world_history: ProcurementHistory, world_releases: dict[str, dict[str, Any]]
) -> None:
    settings = world_history.cardinal_settings
    fired = 0
    for ocid, data in world_releases.items():
        direct = {
            flag.code
            for flag in flags_for_process(data, settings)
            if flag.group == "OCID" and flag.code != "R024"
        }
        assert world_history.record(ocid).cardinal(settings).codes == direct, ocid
        fired += bool(direct)
    assert fired > 50


# --------------------------------------------------------------------------------------------
# Bad input


def _awarded_release(world_releases: dict[str, dict[str, Any]], with_bids: bool = True) -> dict:
    for data in world_releases.values():
        if "awards" in data and (("bids" in data) == with_bids):
            return copy.deepcopy(data)
    raise AssertionError("no such release in the world")


def bad_releases(world_releases: dict[str, dict[str, Any]]) -> Iterator[tuple[Any, str]]:
    good = _awarded_release(world_releases)
    yield ["not", "a", "release"], ""
    yield {"releases": [good]}, "releases"
    missing = copy.deepcopy(good)
    del missing["ocid"]
    yield missing, "ocid"
    text = copy.deepcopy(good)
    text["bids"]["details"][0]["value"]["amount"] = "1,234.00"
    yield text, "bids.details[0].value.amount"
    text = copy.deepcopy(good)
    text["tender"]["value"]["amount"] = "一百万"
    yield text, "tender.value.amount"
    text = copy.deepcopy(good)
    text["awards"][0]["value"]["amount"] = True
    yield text, "awards[0].value.amount"
    empty = copy.deepcopy(good)
    empty["bids"]["details"] = []
    yield empty, "bids.details"
    no_bids = copy.deepcopy(good)
    del no_bids["bids"]
    yield no_bids, "bids"
    wrong = copy.deepcopy(good)
    wrong["tender"]["tenderPeriod"]["endDate"] = "next Tuesday"
    yield wrong, "tender.tenderPeriod.endDate"
    wrong = copy.deepcopy(good)
    wrong["awards"] = {"id": "AWD-01"}
    yield wrong, "awards"
    undated = {"ocid": "ocds-undated", "tender": {"id": "T"}}
    yield undated, "date"


def test_bad_releases_raise_a_clear_error_with_a_location(
    world_history: ProcurementHistory, world_releases: dict[str, dict[str, Any]]
) -> None:
    for data, location in bad_releases(world_releases):
        with pytest.raises(ReleaseError) as caught:
            features_for_release(world_history, data)
        assert caught.value.location == location, (location, str(caught.value))
        assert caught.value.reason
        assert str(caught.value).startswith(location or "<release>")


def test_an_unknown_supplier_is_scored_without_its_history(
    world_history: ProcurementHistory, world_releases: dict[str, dict[str, Any]]
) -> None:
    data = _awarded_release(world_releases)
    known = features_for_release(world_history, data).iloc[0]
    assert known["supplier_known"] == 1
    data["awards"][0]["suppliers"] = [{"id": "SUP-NEVER-SEEN", "name": "新公司"}]
    for bid in data["bids"]["details"]:
        if bid.get("id") == data["awards"][0].get("relatedBid"):
            bid["tenderers"] = [{"id": "SUP-NEVER-SEEN", "name": "新公司"}]
    unknown = features_for_release(world_history, data).iloc[0]
    assert unknown["supplier_known"] == 0
    assert unknown["supplier_ids"] == ["SUP-NEVER-SEEN"]
    for name in (
        "supplier_win_ratio_365d",
        "winner_share_of_buyer_spend_365d",
        "supplier_late_delivery_share_365d",
        "split_purchase_count_30d",
    ):
        assert math.isnan(unknown[name]), name
    unchanged = ["buyer_spend_hhi_365d", "unit_price_to_spec_median_180d", "bid_cv"]
    assert_same_values(unknown[unchanged], known[unchanged])


# --------------------------------------------------------------------------------------------
# The planted schemes separate


def test_planted_schemes_separate(world_features: pd.DataFrame, schemes: dict[str, str]) -> None:
    frame = world_features.assign(scheme=world_features["ocid"].map(schemes).fillna("clean"))
    clean = frame[frame["scheme"] == "clean"]

    def of(scheme: str) -> pd.DataFrame:
        rows = frame[frame["scheme"] == scheme]
        assert len(rows) >= 5, scheme
        return rows

    inflated = of("price_inflation")
    for name in ("unit_price_to_category_median_180d", "unit_price_to_spec_median_180d"):
        assert inflated[name].median() > 1.15 * clean[name].median(), name
    split = of("split_purchase")
    assert split["split_purchase_count_30d"].mean() > clean["split_purchase_count_30d"].mean() + 0.5
    assert (
        split["split_purchase_over_threshold_30d"].mean()
        > 3 * clean["split_purchase_over_threshold_30d"].mean()
    )
    assert split["order_value_to_approval_threshold"].median() > 0.8
    related = of("related_bidders")
    assert related["any_related_bidders"].mean() > 0.8
    assert clean["any_related_bidders"].mean() < 0.1
    rigged = of("bid_rigging")
    assert (
        rigged["bidder_group_win_share_365d"].mean()
        > 1.3 * clean["bidder_group_win_share_365d"].mean()
    )
    single = of("single_source_abuse")
    assert single["single_source_above_approval_threshold"].mean() > 0.9
    assert (
        single["buyer_supplier_direct_award_count_365d"].mean()
        > clean["buyer_supplier_direct_award_count_365d"].mean()
    )
    inflation = of("contract_inflation")
    assert inflation["contract_value_growth"].median() > 1.15
    assert (clean["contract_value_growth"].dropna() < 1.16).mean() > 0.99
