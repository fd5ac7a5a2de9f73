"""Evidence behind a warning: a hand-built store, and agreement with the features on the small
world (the evidence an auditor reads counts what the model saw)."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from core.settings import Settings
from features.procurement.build import build_process_features
from features.procurement.evidence import (
    IDENTIFIER_KINDS,
    UnknownAlertError,
    alert_evidence,
    audit_coverage_by_size,
    bidder_cobids,
    feature_norms,
    pair_history,
    process_bids,
    read_alert,
    read_alerts,
    related_bidders,
)
from features.procurement.history import ProcurementHistory
from store.database import Store

# --------------------------------------------------------------------------------------------
# A hand-built store: buyer B buys from S1 three times; S1, S2 and S3 bid together


def _process(ocid: str, estimate: float) -> dict[str, object]:
    return {
        "ocid": ocid,
        "buyer_id": "B",
        "title": f"purchase {ocid}",
        "procurement_method": "open",
        "tender_value_amount": estimate,
        "tender_value_currency": "CNY",
    }


def _bid(ocid: str, bid_id: str, supplier: str, amount: float, status: str = "valid") -> dict:
    return {
        "ocid": ocid,
        "bid_id": bid_id,
        "status": status,
        "value_amount": amount,
        "value_currency": "CNY",
        "tenderer_ids": [supplier],
    }


def _award(ocid: str, when: str, supplier: str, amount: float, status: str = "active") -> dict:
    return {
        "ocid": ocid,
        "award_id": "A1",
        "award_date": datetime.fromisoformat(when),
        "status": status,
        "value_amount": amount,
        "value_currency": "CNY",
        "supplier_ids": [supplier],
    }


REASONS = [
    {
        "feature": "bid_cv",
        "value": 0.01,
        "contribution": 1.2,
        "direction": "raises",
        "sentence_en": "bids vary by 1%",
        "sentence_zh": "报价离散系数 1%",
    }
]
FLAGS = [
    {
        "code": "R018",
        "feature": "flag_r018_single_bid",
        "value": 1.0,
        "title_en": "Single bid received",
        "title_zh": "仅收到一份投标",
        "description_en": "Only one tenderer.",
        "description_zh": "只有一家投标人。",
    }
]


@pytest.fixture
def hand_store(store: Store) -> Store:
    """P1 (2024-01-10, S1 wins over S2), P2 (2025-03-01, S1 over S2 and S3), P3 (2025-05-01,
    a cancelled award to S1; S2 and S3 bid), P4 (2025-06-01, the warned process: S1, S2, S3
    bid, S1 wins). S1 and S2 share a telephone in the register; S3 names S1's telephone as
    its contact point in P4; S2 and S3 share an address."""
    processes = [_process(o, e) for o, e in (("P1", 10e3), ("P2", 60e3), ("P3", 6e5), ("P4", 3e6))]
    bids = [
        _bid("P1", "b1", "S1", 100.0),
        _bid("P1", "b2", "S2", 110.0),
        _bid("P2", "b1", "S1", 200.0),
        _bid("P2", "b2", "S2", 220.0),
        _bid("P2", "b3", "S3", 230.0),
        _bid("P3", "b1", "S2", 300.0),
        _bid("P3", "b2", "S3", 310.0),
        _bid("P4", "b1", "S1", 400.0),
        _bid("P4", "b2", "S2", 400.0),
        _bid("P4", "b3", "S3", 380.0, status="disqualified"),
        _bid("P4", "b4", "S4", 390.0, status="withdrawn"),
    ]
    awards = [
        _award("P1", "2024-01-10", "S1", 100.0),
        _award("P2", "2025-03-01", "S1", 200.0),
        _award("P3", "2025-05-01", "S1", 300.0, status="cancelled"),
        _award("P4", "2025-06-01", "S1", 400.0),
    ]
    suppliers = pd.DataFrame(
        {
            "supplier_id": ["S1", "S2", "S3", "S4"],
            "name": ["One Ltd", "Two Ltd", "Three Ltd", "Four Ltd"],
            "phone_fingerprint": ["tel-1", "tel-1", "tel-3", "tel-1"],
            "address_fingerprint": ["addr-1", "addr-2", "addr-2", None],
            "legal_representative_fingerprint": ["rep-1", "rep-2", "rep-3", "rep-1"],
            "bank_account_fingerprint": [None, None, None, None],
        }
    )
    parties = pd.DataFrame(
        {
            "ocid": ["P4"],
            "party_id": ["S3"],
            "name": ["Three Limited"],
            "contact_phone_fingerprint": ["tel-1"],
        }
    )
    alert = {
        "alert_id": "alert-1",
        "ocid": "P4",
        "decision_date": datetime(2025, 6, 1),
        "buyer_id": "B",
        "supplier_ids": ["S1"],
        "probability": 0.9,
        "unsupervised_score": 0.6,
        "warning_level": "red",
        "red_flags": json.dumps(FLAGS, ensure_ascii=False),
        "reasons": json.dumps(REASONS, ensure_ascii=False),
        "model_name": "procurement-risk",
        "model_version": "1",
        "scored_at": datetime(2025, 6, 2),
        "status": "open",
    }
    other = {**alert, "alert_id": "alert-2", "ocid": "P2", "probability": 0.5}
    outcomes = pd.DataFrame(
        {
            "ocid": ["P1", "P3", "P4"],
            "finding": ["dismissed", "confirmed", "needs_information"],
            "scheme": ["", "bid_rigging", ""],
            "confirmed_at": [datetime(2024, 6, 1), datetime(2025, 9, 1), datetime(2025, 9, 1)],
        }
    )
    for table, frame in (
        ("processes", pd.DataFrame(processes)),
        ("bids", pd.DataFrame(bids)),
        ("awards", pd.DataFrame(awards)),
        ("suppliers", suppliers),
        ("parties", parties),
        ("alerts", pd.DataFrame([alert, {**other, "warning_level": "orange"}])),
        ("audit_outcomes", outcomes),
    ):
        store.insert_new(table, frame)
    return store


def test_alerts_come_most_probable_first(hand_store: Store) -> None:
    assert read_alerts(hand_store)["alert_id"].tolist() == ["alert-1", "alert-2"]
    assert read_alerts(hand_store, level="orange")["alert_id"].tolist() == ["alert-2"]
    assert read_alert(hand_store, "alert-2")["ocid"] == "P2"
    with pytest.raises(UnknownAlertError):
        read_alert(hand_store, "no-such-alert")


def test_bids_are_ranked_among_submitted_prices(hand_store: Store) -> None:
    bids = process_bids(hand_store, "P4").set_index("bid_id")
    assert bids.index.tolist() == ["b3", "b4", "b1", "b2"]  # cheapest first
    # the withdrawn bid is shown but not ranked against; equal prices share a rank
    assert bids["price_rank"].to_dict() == {"b3": 1, "b4": 2, "b1": 2, "b2": 2}
    assert bids.loc["b1", "to_lowest"] == pytest.approx(400 / 380)
    assert bids["won"].to_dict() == {"b3": False, "b4": False, "b1": True, "b2": False}
    names = bids["tenderer_names"].map(list).to_dict()
    assert names["b3"] == ["Three Limited"]  # as named in the process
    assert names["b1"] == ["One Ltd"]  # else the register


def test_pair_history_is_before_the_warning_and_counts_active_awards(hand_store: Store) -> None:
    history = pair_history(hand_store, "B", "S1", datetime(2025, 6, 1))
    assert history["ocid"].tolist() == ["P1", "P2"]  # P3's award was cancelled
    assert history["days_before"].tolist() == [508.0, 92.0]
    assert history["bidders"].tolist() == [2, 3]
    assert pair_history(hand_store, "B", "S1", datetime(2025, 3, 1)).shape[0] == 1
    assert pair_history(hand_store, "B", "S1", datetime(2025, 6, 2), exclude="P4").shape[0] == 2


def test_cobids_need_two_of_the_group_within_the_window(hand_store: Store) -> None:
    cobids = bidder_cobids(hand_store, "P4", datetime(2025, 6, 1))
    # P1 is older than 365 days; P3 has no active award, so its outcome is not known
    assert cobids["ocid"].tolist() == ["P2"]
    assert list(cobids.iloc[0]["group_bidders"]) == ["S1", "S2", "S3"]
    assert bool(cobids.iloc[0]["won_by_group"])
    assert bidder_cobids(hand_store, "P4", datetime(2025, 6, 1), window_days=600).shape[0] == 2


def test_related_bidders_match_fingerprints_of_submitted_bidders(hand_store: Store) -> None:
    pairs = related_bidders(hand_store, "P4")
    found = {(row.supplier_a, row.supplier_b, row.kind): row.source for row in pairs.itertuples()}
    assert found == {
        ("S1", "S2", "phone"): "register",
        ("S1", "S3", "phone"): "contact point and register",
        ("S2", "S3", "phone"): "contact point and register",
        ("S2", "S3", "address"): "register",
    }  # S4 withdrew: sharing S1's legal representative does not count
    assert set(pairs["name_a"]) == {"One Ltd", "Two Ltd"}


def test_alert_evidence_gathers_everything(hand_store: Store) -> None:
    evidence = alert_evidence(hand_store, "alert-1")
    assert set(evidence) == {
        "alert",
        "process",
        "bids",
        "red_flags",
        "reasons",
        "pair_history",
        "cobids",
        "related_bidders",
    }
    assert evidence["process"]["ocid"].tolist() == ["P4"]
    assert evidence["red_flags"]["code"].tolist() == ["R018"]
    assert evidence["reasons"].iloc[0]["sentence_zh"] == "报价离散系数 1%"
    assert evidence["pair_history"]["supplier_id"].unique().tolist() == ["S1"]
    # an alert row (as scoring returns it) gives the same evidence as its id
    row = read_alert(hand_store, "alert-1")
    again = alert_evidence(hand_store, {str(key): value for key, value in row.items()})
    pd.testing.assert_frame_equal(again["cobids"], evidence["cobids"])


def test_audit_coverage_by_size(hand_store: Store) -> None:
    coverage = audit_coverage_by_size(hand_store).set_index("band")
    assert coverage["processes"].tolist() == [1, 1, 1, 1]
    assert coverage["audited"].tolist() == [1, 0, 1, 1]
    assert coverage["confirmed"].tolist() == [0, 0, 1, 0]
    assert math.isnan(float(coverage["confirmed_share_of_audited"].iloc[1]))


def test_feature_norms_compare_with_earlier_peers_only() -> None:
    features = pd.DataFrame(
        {
            "ocid": ["a", "b", "c", "d"],
            "decision_date": pd.to_datetime(
                ["2025-01-01", "2025-02-01", "2025-03-01", "2025-04-01"]
            ),
            "buyer_id": ["B", "B", "C", "B"],
            "category": ["M1", "M1", "M1", "M1"],
            "bid_cv": [0.1, 0.3, 0.2, 0.05],
        }
    )
    norms = feature_norms(features, "c", feature_names=["bid_cv"]).to_dict("index")["bid_cv"]
    assert norms["value"] == 0.2
    assert norms["category_median"] == pytest.approx(0.2)  # a and b, not d (later)
    assert norms["category_percentile"] == 0.5
    assert norms["buyer_peers"] == 0  # no earlier process of buyer C
    assert math.isnan(float(norms["buyer_percentile"]))


# --------------------------------------------------------------------------------------------
# The small world: the evidence counts what the features counted


@pytest.fixture(scope="module")
def world_features(small_installation: dict[str, str]) -> pd.DataFrame:
    settings = Settings(
        data_dir=Path(small_installation["LODESTAR_DATA_DIR"]),
        key_file=Path(small_installation["LODESTAR_KEY_FILE"]),
    )
    with Store.open(settings, settings.keyring(), read_only=True) as opened:
        return build_process_features(ProcurementHistory.from_store(opened, settings=settings))


def test_evidence_agrees_with_the_features(
    small_store: Store, world_features: pd.DataFrame
) -> None:
    dated = world_features[world_features["decision_date"].notna()]
    related = dated[dated["any_related_bidders"] > 0].head(15)
    grouped = dated[dated["bidder_group_shared_tenders_365d"] > 0].head(15)
    paired = dated[dated["buyer_supplier_award_count_365d"] > 0].head(15)
    assert len(related) > 0
    assert len(grouped) > 0
    assert len(paired) > 0
    for row in pd.concat([related, grouped, paired]).to_dict("records"):
        before = pd.Timestamp(row["decision_date"])
        ocid = str(row["ocid"])
        pairs = related_bidders(small_store, ocid)
        for kind in IDENTIFIER_KINDS:
            expected = row[f"related_bidder_pairs_{kind}"]
            assert (pairs["kind"] == kind).sum() == expected, (ocid, kind)
        cobids = bidder_cobids(small_store, ocid, before)
        assert len(cobids) == row["bidder_group_shared_tenders_365d"], ocid
        if not math.isnan(row["buyer_supplier_award_count_365d"]):
            # the features follow the main winner (the largest active award)
            winner = small_store.query(
                "SELECT supplier_ids[1] AS s FROM awards WHERE ocid = ? AND status = 'active' "
                "ORDER BY value_amount DESC LIMIT 1",
                [ocid],
            )["s"].iloc[0]
            history = pair_history(small_store, str(row["buyer_id"]), winner, before, exclude=ocid)
            recent = history[history["days_before"] <= 365]
            assert len(recent) == row["buyer_supplier_award_count_365d"], ocid
