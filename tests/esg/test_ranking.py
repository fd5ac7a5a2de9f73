"""The ranking of a tender's bidders: the blend on hand-computed cases, knock-outs removed,
unknown bands never ahead of a screened bidder, and the bids read from a real store."""

from __future__ import annotations

import random
from datetime import date, datetime

import pandas as pd
import pytest

from features.esg.history import SupplierHistory
from features.esg.knockouts import KnockOut
from models.esg.model import ACTIONS, EsgAssessment, band_of
from models.esg.ranking import (
    BID_AMOUNT,
    BID_CURRENCY,
    BID_ID,
    SUPPLIER_ID,
    NoBidsError,
    Offer,
    TenderBids,
    TenderNotFoundError,
    rank,
    rank_bidders,
    screen_suppliers,
    tender_bids,
    unique_knockouts,
)
from store.database import Store
from tests.esg.test_model import synthetic_model

AS_OF = date(2025, 6, 30)


def assessment(supplier_id: str, score: float, *, unknown: bool = False) -> EsgAssessment:
    band = "unknown" if unknown else band_of(score)
    return EsgAssessment(
        supplier_id=supplier_id,
        as_of=AS_OF,
        score=score,
        probability=score / 100,
        raw_score=0.0,
        band=band,
        action=ACTIONS[band],
        action_en="",
        action_zh="",
        pillars={"E": score, "S": score, "G": score},
        unknown=unknown,
    )


def knockout(code: str = "DEBARMENT") -> KnockOut:
    return KnockOut(code, "debarred", "被禁止投标", "DOC-1", date(2025, 3, 1))


def bids(*rows: tuple[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {SUPPLIER_ID: sid, BID_ID: f"BID-{i}", BID_AMOUNT: amount, BID_CURRENCY: "CNY"}
            for i, (sid, amount) in enumerate(rows)
        ]
    )


THREE = bids(("A", 100.0), ("B", 110.0), ("C", 120.0))
SCORES = {"A": assessment("A", 30.0), "B": assessment("B", 5.0), "C": assessment("C", 0.0)}


def order(ranking: object) -> list[str]:
    return [b.supplier_id for b in ranking.ranked]  # type: ignore[attr-defined]


def test_blend_on_a_hand_computed_case() -> None:
    # w = 0.3: A 0.7×0.0 + 0.3×0.30 = 0.090; B 0.7×0.1 + 0.3×0.05 = 0.085; C 0.7×0.2 = 0.140
    ranking = rank(THREE, SCORES, {}, esg_weight=0.3)
    assert order(ranking) == ["B", "A", "C"]
    blended = {b.supplier_id: b.blended for b in ranking.ranked}
    assert blended == pytest.approx({"A": 0.090, "B": 0.085, "C": 0.140})
    premium = {b.supplier_id: b.price_premium for b in ranking.ranked}
    assert premium == pytest.approx({"A": 0.0, "B": 0.1, "C": 0.2})
    assert [b.rank for b in ranking.ranked] == [1, 2, 3]
    assert ranking.lowest_eligible_bid == 100.0
    assert "0.70 × 0.1000 + 0.30 × 0.0500" in ranking.ranked[0].explanation_en


@pytest.mark.parametrize(
    ("weight", "expected"),
    [(0.0, ["A", "B", "C"]), (1.0, ["C", "B", "A"])],
    ids=["price-only", "esg-only"],
)
def test_weight_ends(weight: float, expected: list[str]) -> None:
    assert order(rank(THREE, SCORES, {}, esg_weight=weight)) == expected


@pytest.mark.parametrize("weight", [-0.01, 1.01, float("nan")])
def test_weight_outside_zero_one_is_refused(weight: float) -> None:
    with pytest.raises(ValueError, match="esg_weight"):
        rank(THREE, SCORES, {}, esg_weight=weight)


def test_knocked_out_bidder_is_removed_with_its_reasons() -> None:
    # A is cheapest and would win; knocked out, it is listed apart and B's premium is over B
    ranking = rank(THREE, SCORES, {"A": [knockout()], "C": []}, esg_weight=0.3)
    assert order(ranking) == ["B", "C"]
    [excluded] = ranking.excluded
    assert excluded.supplier_id == "A"
    assert [k.code for k in excluded.knockouts] == ["DEBARMENT"]
    assert ranking.lowest_eligible_bid == 110.0
    assert ranking.ranked[0].price_premium == 0.0


def test_a_knocked_out_supplier_never_appears_in_a_ranking() -> None:
    rng = random.Random(7)
    for _ in range(200):
        ids = [f"S{i}" for i in range(rng.randint(1, 8))]
        frame = bids(*[(sid, rng.uniform(50, 150)) for sid in ids])
        scores = {
            sid: assessment(sid, rng.uniform(0, 60), unknown=rng.random() < 0.2) for sid in ids
        }
        out = {sid for sid in ids if rng.random() < 0.3}
        ranking = rank(
            frame, scores, {sid: [knockout()] for sid in out}, esg_weight=rng.uniform(0, 1)
        )
        assert not out & set(order(ranking))
        assert {b.supplier_id for b in ranking.excluded} == out
        assert len(ranking.ranked) + len(ranking.excluded) == len(ids)


def test_unknown_band_is_never_ahead_of_a_screened_bidder() -> None:
    # U is the cheapest and its (meaningless) score is 0: still after every scored bidder
    frame = bids(("U", 50.0), ("A", 100.0), ("B", 110.0), ("N", 60.0))
    scores = {**SCORES, "U": assessment("U", 0.0, unknown=True)}  # N: not in the register
    ranking = rank(frame, scores, {}, esg_weight=0.3)
    assert order(ranking) == ["A", "B", "U", "N"]
    tail = ranking.ranked[2:]
    assert all(b.manual_review and b.blended is None and b.esg_score is None for b in tail)
    assert {b.band for b in tail} == {"unknown"}
    assert "never treated as safe" in tail[0].explanation_en
    assert "not in the supplier register" in tail[1].explanation_en
    assert ranking.lowest_eligible_bid == 50.0  # the price reference is every eligible bid


def test_recommended_is_the_first_awardable() -> None:
    scores = {"A": assessment("A", 45.0), "B": assessment("B", 35.0), "C": assessment("C", 15.0)}
    ranking = rank(THREE, scores, {}, esg_weight=0.0)
    assert order(ranking) == ["A", "B", "C"]
    assert ranking.recommended == "C"  # severe and high need more than a signature
    only_unknown = rank(bids(("U", 1.0)), {"U": assessment("U", 0.0, unknown=True)}, {})
    assert only_unknown.recommended is None


def test_ties_are_broken_by_price_then_id() -> None:
    frame = bids(("B", 100.0), ("A", 100.0))
    scores = {"A": assessment("A", 10.0), "B": assessment("B", 10.0)}
    assert order(rank(frame, scores, {}, esg_weight=0.5)) == ["A", "B"]


def test_renaming_a_bidder_changes_nothing_but_its_name() -> None:
    renamed = THREE.replace({SUPPLIER_ID: {"B": "Z"}})
    scores = {**SCORES, "Z": SCORES["B"]}
    before = rank(THREE, SCORES, {}, esg_weight=0.3)
    after = rank(renamed, scores, {}, esg_weight=0.3)
    assert [b.blended for b in before.ranked] == [b.blended for b in after.ranked]
    assert order(after) == ["Z", "A", "C"]


def test_duplicate_knockouts_are_kept_once() -> None:
    first, again, other = knockout(), knockout(), knockout("COURT_DEFAULTER")
    assert unique_knockouts([first, again, other]) == [first, other]
    # the same missing mark in two categories is two restrictions
    m04, m05 = (
        KnockOut("MISSING_SAFETY_MARK", "no mark", "无标志", None, AS_OF, category)
        for category in ("M04", "M05")
    )
    assert unique_knockouts([m04, m05, m04]) == [m04, m05]


# --------------------------------------------------------------------------------------------
# Gates in a screen: a restriction bars its category only


def _gated_history() -> SupplierHistory:
    """R sells M04 and M13 with no mark for M04; D is a court defaulter; C is clean."""
    register = pd.DataFrame(
        [
            {"supplier_id": sid, "categories": categories, "tax_credit_grade": "B",
             "reported_emission_intensity": None, "registered_on": date(2020, 1, 1)}
            for sid, categories in (("R", ["M04", "M13"]), ("D", ["M13"]), ("C", ["M04", "M13"]))
        ]
    )  # fmt: skip
    certificates = pd.DataFrame(
        [
            {"supplier_id": sid, "cert_type": "MA", "cert_no": f"MA-{sid}", "category": "M04",
             "valid_from": date(2022, 1, 1), "valid_to": date(2027, 1, 1),
             "evidence_document": f"MA-{sid}.pdf"}
            for sid in ("D", "C")
        ]
    )  # fmt: skip
    events = pd.DataFrame(
        [
            {"event_id": "E1", "supplier_id": "D", "event_type": "court_defaulter",
             "event_date": date(2025, 1, 10), "severity": None, "deaths": 0, "fine_cny": 0.0,
             "listed_until": None, "evidence_document": "COURT-1"},
            {"event_id": "E2", "supplier_id": "R", "event_type": "env_penalty",
             "event_date": date(2024, 3, 1), "severity": "minor", "deaths": 0,
             "fine_cny": 10_000.0, "listed_until": None, "evidence_document": "ENV-1"},
        ]
    )  # fmt: skip
    return SupplierHistory.from_frames(
        {"suppliers": register, "supplier_certifications": certificates, "supplier_events": events},
        category_factors={"M04": 0.2, "M13": 0.15},
    )


def _tender(*categories: str) -> TenderBids:
    offers = (Offer("D", "BID-1", 90.0, "CNY"), Offer("R", "BID-2", 100.0, "CNY"),
              Offer("C", "BID-3", 120.0, "CNY"))  # fmt: skip
    return TenderBids(ocid="T", title=None, as_of=AS_OF, categories=categories, offers=offers)


def test_the_supplier_screen_restricts_without_knocking_out() -> None:
    history = _gated_history()
    screen = screen_suppliers(history, synthetic_model(), ["R", "D", "C"], AS_OF)
    assert set(screen.knockouts) == {"D"}
    assert [k.code for k in screen.knockouts["D"]] == ["COURT_DEFAULTER"]
    assert [(r.code, r.category) for r in screen.restrictions["R"]] == [
        ("MISSING_SAFETY_MARK", "M04")
    ]
    assert set(screen.restrictions) == {"R"}
    assert set(screen.assessments) == {"R", "D", "C"}


def test_a_restriction_bars_a_tender_of_its_category_only() -> None:
    history, model = _gated_history(), synthetic_model()
    for_m13 = rank_bidders(_tender("M13"), history, model, esg_weight=0.3)
    assert {b.supplier_id for b in for_m13.ranked} == {"R", "C"}
    assert [b.supplier_id for b in for_m13.excluded] == ["D"]
    for_m04 = rank_bidders(_tender("M04", "M13"), history, model, esg_weight=0.3)
    assert [b.supplier_id for b in for_m04.ranked] == ["C"]
    barred = {b.supplier_id: b.knockouts for b in for_m04.excluded}
    assert [(k.code, k.category) for k in barred["R"]] == [("MISSING_SAFETY_MARK", "M04")]
    assert [(k.code, k.category) for k in barred["D"]] == [("COURT_DEFAULTER", None)]
    assert for_m04.lowest_eligible_bid == 120.0


# --------------------------------------------------------------------------------------------
# Bids from a real store


def _process(ocid: str, deadline: datetime | None) -> dict[str, object]:
    return {
        "ocid": ocid,
        "title": "锚杆采购",
        "release_date": datetime(2025, 5, 1),
        "tender_period_end": deadline,
    }


def _bid(ocid: str, bid_id: str, status: str, amount: float | None, *ids: str) -> dict[str, object]:
    return {
        "ocid": ocid,
        "bid_id": bid_id,
        "status": status,
        "value_amount": amount,
        "value_currency": "CNY",
        "tenderer_ids": list(ids),
    }


def test_tender_bids_from_the_store(store: Store) -> None:
    store.insert_new(
        "processes",
        pd.DataFrame([_process("T1", datetime(2025, 4, 20, 17)), _process("T2", None)]),
    )
    store.insert_new(
        "items",
        pd.DataFrame(
            [
                {"ocid": "T1", "item_id": "1", "classification_id": "M04"},
                {"ocid": "T1", "item_id": "2", "classification_id": "M05"},
            ]
        ),
    )
    store.insert_new(
        "bids",
        pd.DataFrame(
            [
                _bid("T1", "BID-1", "valid", 120.0, "A"),
                _bid("T1", "BID-2", "valid", 100.0, "A"),  # A's lowest
                _bid("T1", "BID-3", "disqualified", 50.0, "B"),  # not an offer
                _bid("T1", "BID-4", "valid", 110.0, "C", "D"),  # a consortium: both
                _bid("T1", "BID-5", "valid", None, "E"),  # no price
                _bid("T2", "BID-1", "withdrawn", 90.0, "A"),
            ]
        ),
    )
    tender = tender_bids(store, "T1")
    assert tender.as_of == date(2025, 4, 20)
    assert tender.categories == ("M04", "M05")
    assert tender.bids[[SUPPLIER_ID, BID_ID, BID_AMOUNT]].values.tolist() == [
        ["A", "BID-2", 100.0],
        ["C", "BID-4", 110.0],
        ["D", "BID-4", 110.0],
    ]
    assert tender.offers[0] == Offer("A", "BID-2", 100.0, "CNY")
    # the frame and the offers rank alike
    assert rank(tender.bids, {}, {}) == rank(tender.offers, {}, {})
    with pytest.raises(NoBidsError, match="T2"):
        tender_bids(store, "T2")
    with pytest.raises(TenderNotFoundError):
        tender_bids(store, "T-none")
