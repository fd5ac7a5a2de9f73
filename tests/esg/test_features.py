"""Supplier ESG features: point in time, knock-outs, carbon, the evidence rule, not-criteria."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from features.esg.build import supplier_features
from features.esg.carbon import (
    CATEGORY_NAICS,
    carbon_intensity,
    category_factors,
    read_naics_factors,
    spend_based_intensity,
)
from features.esg.history import SupplierHistory
from features.esg.knockouts import (
    CATEGORY_CODES,
    MARK_REQUIRED_CATEGORIES,
    SUPPLIER_WIDE_CODES,
    Gates,
    gates_for,
    knockouts_for,
)
from features.esg.specs import FEATURES, MODEL_FEATURES, MONOTONE_CONSTRAINTS, NOT_CRITERIA
from store.database import Store
from world.materials import MA_CATEGORIES

AS_OF = date(2024, 1, 1)
FACTORS = {"M13": 0.15, "M14": 0.6}


def _register(**extra: object) -> pd.DataFrame:
    row: dict[str, object] = {
        "supplier_id": "S1",
        "categories": ["M13"],
        "tax_credit_grade": "B",
        "reported_emission_intensity": None,
        "registered_on": date(2020, 1, 1),
        "ownership_type": "国有",
        "region": "北京市",
        "registered_capital_cny": 1e8,
        "founded_on": date(1999, 1, 1),
    }
    row.update(extra)
    return pd.DataFrame([row])


def _event(event_type: str, when: date, **extra: object) -> dict[str, object]:
    row: dict[str, object] = {
        "event_id": f"E-{event_type}-{when}",
        "supplier_id": "S1",
        "event_type": event_type,
        "event_date": when,
        "severity": "minor",
        "deaths": 0,
        "fine_cny": 10_000.0,
        "listed_until": None,
        "evidence_document": "DOC-1",
    }
    row.update(extra)
    return row


def _cert(
    cert_type: str,
    *,
    category: str | None = None,
    evidence: str | None = "C.pdf",
    valid_from: date = date(2022, 1, 1),
    valid_to: date = date(2026, 1, 1),
) -> dict:
    return {
        "supplier_id": "S1",
        "cert_type": cert_type,
        "cert_no": f"{cert_type}-{category}",
        "category": category,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "evidence_document": evidence,
    }


def _history(
    events: Sequence[dict] = (), certs: Sequence[dict] = (), **register: object
) -> SupplierHistory:
    return SupplierHistory.from_frames(
        {
            "suppliers": _register(**register),
            "supplier_events": pd.DataFrame(list(events)),
            "supplier_certifications": pd.DataFrame(list(certs)),
        },
        category_factors=FACTORS,
    )


def _row(history: SupplierHistory, as_of: date = AS_OF) -> pd.Series:
    return supplier_features(history, ["S1"], as_of).iloc[0]


# ---------------------------------------------------------------------------- point in time


def test_only_events_before_as_of_count() -> None:
    before = _history([_event("env_penalty", date(2023, 6, 1))])
    on_the_day = _history([_event("env_penalty", AS_OF)])
    after = _history([_event("env_penalty", date(2024, 6, 1))])
    assert _row(before)["env_penalty_count_36m"] == 1
    assert _row(on_the_day)["env_penalty_count_36m"] == 0
    assert _row(after)["env_penalty_count_36m"] == 0


def test_shifted_history_gives_the_same_features() -> None:
    events = [
        _event("env_penalty", date(2022, 3, 1), severity="serious"),
        _event("safety_accident", date(2023, 5, 1), severity="general", deaths=1),
    ]
    shifted = [
        _event("env_penalty", date(2023, 3, 1), severity="serious"),
        _event("safety_accident", date(2024, 5, 1), severity="general", deaths=1),
    ]
    first = _row(_history(events), AS_OF)
    second = _row(_history(shifted), date(2025, 1, 1))
    numeric = [n for n in FEATURES if n not in ("iso14001_valid",)]
    pd.testing.assert_series_equal(
        first[numeric].astype(float), second[numeric].astype(float), check_names=False, atol=0.01
    )


def test_decay_halves_in_a_year() -> None:
    row = _row(_history([_event("env_penalty", date(2023, 1, 1), severity="major")]))
    assert row["env_penalty_decayed"] == pytest.approx(4 * 0.5, rel=0.01)


def test_no_history_is_flagged() -> None:
    row = supplier_features(_history(), ["S1", "NOT-REGISTERED"], AS_OF)
    assert row["has_any_history"].tolist() == [0.0, 0.0]


# ---------------------------------------------------------------------------- evidence rule


def test_certificate_without_document_counts_as_absent() -> None:
    with_doc = _row(_history(certs=[_cert("ISO14001")]))
    without = _row(_history(certs=[_cert("ISO14001", evidence=None)]))
    expired = _row(_history(certs=[_cert("ISO14001", valid_to=date(2023, 6, 1))]))
    assert with_doc["iso14001_valid"] == 1
    assert without["iso14001_valid"] == 0
    assert without["claims_without_evidence"] == 1
    assert expired["iso14001_valid"] == 0


# ---------------------------------------------------------------------------- knock-outs


def test_knockouts_by_hand() -> None:
    history = _history(
        [
            _event("debarment", date(2023, 1, 1), listed_until=date(2025, 1, 1)),
            _event("court_defaulter", date(2020, 1, 1), listed_until=date(2021, 1, 1)),
            _event("safety_blacklist", date(2023, 6, 1)),
            _event("safety_accident", date(2022, 1, 1), severity="larger", deaths=3),
            _event("safety_accident", date(2019, 1, 1), severity="major", deaths=12),
        ],
        [_cert("MA", category="M04", evidence=None)],
        categories=["M04", "M13"],
    )
    # no category being bought: the supplier-wide gates only
    codes = sorted(k.code for k in knockouts_for(history, "S1", AS_OF))
    assert codes == ["DEBARMENT", "MAJOR_ACCIDENT", "SAFETY_BLACKLIST"]
    assert all(k.supplier_wide and k.code in SUPPLIER_WIDE_CODES
               for k in knockouts_for(history, "S1", AS_OF))  # fmt: skip
    accident = next(k for k in knockouts_for(history, "S1", AS_OF) if k.code == "MAJOR_ACCIDENT")
    assert accident.date == date(2022, 1, 1)
    assert accident.evidence == "DOC-1"
    # the blacklist lasts a year; the debarment ends on its date
    later = {k.code for k in knockouts_for(history, "S1", date(2024, 7, 1))}
    assert "SAFETY_BLACKLIST" not in later
    assert "DEBARMENT" in later
    assert "DEBARMENT" not in {k.code for k in knockouts_for(history, "S1", date(2025, 1, 2))}
    # buying M04 also needs its mark; buying M13 does not
    assert "MISSING_SAFETY_MARK" in {
        k.code for k in knockouts_for(history, "S1", AS_OF, category="M04")
    }
    assert "MISSING_SAFETY_MARK" not in {
        k.code for k in knockouts_for(history, "S1", AS_OF, category="M13")
    }


def test_a_missing_mark_restricts_its_category_only() -> None:
    # the mark is claimed without a document: missing (the evidence rule), for M04 alone
    history = _history(
        certs=[_cert("MA", category="M04", evidence=None)], categories=["M04", "M13"]
    )
    gates = gates_for(history, "S1", AS_OF)
    assert gates.eligible
    assert gates.knockouts == ()
    (restriction,) = gates.restrictions
    assert restriction.code == "MISSING_SAFETY_MARK"
    assert restriction.code in CATEGORY_CODES
    assert restriction.category == "M04"
    assert not restriction.supplier_wide
    assert restriction.evidence == "MA-M04"  # the certificate claimed, not a document
    assert restriction.date == AS_OF
    assert "without a document" in restriction.description_en
    assert gates.restricted_categories == ("M04",)
    assert gates.barring(["M13"]) == []
    assert gates.barring(["M13", "M04"]) == [restriction]
    assert restriction.as_dict()["category"] == "M04"
    # the supplier screen does not knock it out; a tender for M04 does
    assert knockouts_for(history, "S1", AS_OF) == []
    assert knockouts_for(history, "S1", AS_OF, category="M04") == [restriction]


def test_a_supplier_wide_gate_bars_every_category() -> None:
    history = _history(
        [_event("court_defaulter", date(2023, 6, 1))],
        [_cert("MA", category="M04")],
        categories=["M04", "M13"],
    )
    gates = gates_for(history, "S1", AS_OF)
    assert not gates.eligible
    assert gates.restrictions == ()
    for category in ("M04", "M13", "M99"):
        assert [k.code for k in gates.barring([category])] == ["COURT_DEFAULTER"]


def test_missing_licences_are_restrictions_of_their_category() -> None:
    # explosives (M09) need an MA mark, an explosives permit and a safety permit
    history = _history(
        certs=[
            _cert("MA", category="M09"),
            _cert("explosives_permit", category="M09", valid_to=date(2023, 12, 1)),
        ],
        categories=["M09", "M13"],
    )
    gates = gates_for(history, "S1", AS_OF)
    assert gates.eligible
    assert [(r.code, r.category) for r in gates.restrictions] == [
        ("MISSING_LICENCE", "M09"),
        ("MISSING_LICENCE", "M09"),
    ]
    expired, missing = gates.restrictions
    assert "explosives_permit" in expired.description_en
    assert "expired" in expired.description_en
    assert "safety_permit" in missing.description_en
    assert "none on record" in missing.description_en
    assert gates.restricted_categories == ("M09",)
    # a tender's category is checked even when the register does not list it
    other = gates_for(history, "S1", AS_OF, ["M04"])
    assert [(r.code, r.category) for r in other.restrictions] == [("MISSING_SAFETY_MARK", "M04")]


def test_repeat_safety_blacklisting_lasts_three_years() -> None:
    history = _history(
        [_event("safety_blacklist", date(2020, 1, 1)), _event("safety_blacklist", date(2022, 1, 1))]
    )
    assert [k.code for k in knockouts_for(history, "S1", date(2024, 6, 1))] == ["SAFETY_BLACKLIST"]


def test_valid_documented_mark_passes_and_expired_mark_fails() -> None:
    valid = _history(certs=[_cert("MA", category="M04")], categories=["M04"])
    expired = _history(certs=[_cert("MA", category="M04", valid_to=date(2023, 1, 1))],
                       categories=["M04"])  # fmt: skip
    assert gates_for(valid, "S1", AS_OF) == Gates()
    assert knockouts_for(valid, "S1", AS_OF, category="M04") == []
    (restriction,) = gates_for(expired, "S1", AS_OF).restrictions
    assert restriction.code == "MISSING_SAFETY_MARK"
    assert "expired 2023-01-01" in restriction.description_en
    assert knockouts_for(expired, "S1", AS_OF, category="M04") == [restriction]


# ---------------------------------------------------------------------------- freshness


def test_data_through_is_the_latest_event_certificate_or_register_date() -> None:
    history = _history(
        [_event("env_penalty", date(2023, 6, 1)), _event("litigation", date(2023, 9, 30))],
        [_cert("ISO9001", valid_from=date(2023, 10, 2), valid_to=date(2027, 1, 1))],
        registered_on=date(2020, 1, 1),
    )
    # the certificate's expiry (2027) is not data about the supplier; its start is
    assert history.data_through == date(2023, 10, 2)
    assert SupplierHistory.from_frames({}, category_factors={}).data_through is None


@pytest.mark.parametrize(
    ("as_of", "days", "stale"),
    [
        (date(2023, 9, 1), -31, False),  # inside the data
        (date(2023, 11, 1), 30, False),  # 30 days after: still fresh
        (date(2023, 11, 2), 31, True),
    ],
    ids=["inside", "thirty-days", "thirty-one-days"],
)
def test_a_screen_more_than_thirty_days_past_the_data_is_stale(
    as_of: date, days: int, stale: bool
) -> None:
    history = _history([_event("env_penalty", date(2023, 10, 2))], registered_on=None)
    freshness = history.freshness(as_of)
    assert freshness.data_through == date(2023, 10, 2)
    assert freshness.days_after_data == days
    assert freshness.stale is stale
    assert (freshness.note_en is not None) is stale
    if stale:
        assert "2023-10-02" in str(freshness.note_en)
        assert "2023-10-02" in str(freshness.note_zh)


def test_no_supplier_data_is_stale() -> None:
    freshness = SupplierHistory.from_frames({}, category_factors={}).freshness(AS_OF)
    assert freshness.data_through is None
    assert freshness.days_after_data is None
    assert freshness.stale
    assert "no supplier data" in str(freshness.note_en)


def test_mark_categories_follow_the_catalogue() -> None:
    assert frozenset(MA_CATEGORIES) == MARK_REQUIRED_CATEGORIES


# ---------------------------------------------------------------------------- carbon


def test_every_category_maps_to_an_epa_industry(shared_data: Path) -> None:
    path = shared_data / "esg" / "epa_useeio_supply_chain_ghg_factors_v1.2_naics_2021usd.csv"
    naics = read_naics_factors(path)
    assert {code for code, _ in CATEGORY_NAICS.values()} <= set(naics)
    factors = category_factors(naics, cny_per_usd=6.45)
    assert factors["M14"] == pytest.approx(3.858 / 6.45)  # cement, with margins
    assert category_factors(naics, cny_per_usd=7.0)["M14"] < factors["M14"]


def test_reported_intensity_wins_and_unknown_category_is_nan() -> None:
    assert carbon_intensity(0.4, ["M13"], FACTORS) == (0.4, True)
    assert carbon_intensity(None, ["M13", "M14"], FACTORS) == (pytest.approx(0.375), False)
    assert math.isnan(spend_based_intensity(["M99"], FACTORS))
    assert math.isnan(spend_based_intensity([], FACTORS))
    assert _row(_history(categories=["M14"]))["carbon_intensity_kg_per_cny"] == 0.6


# ---------------------------------------------------------------------------- not criteria


def test_not_criteria_are_absent_from_the_model_inputs() -> None:
    frame = supplier_features(_history(), ["S1"], AS_OF)
    for name in NOT_CRITERIA:
        assert name not in MODEL_FEATURES
        assert name not in frame.columns
        assert not any(name in feature for feature in MODEL_FEATURES)
    # changing them changes nothing
    other = _history(ownership_type="民营", region="上海市", registered_capital_cny=1.0,
                     founded_on=date(2019, 1, 1))  # fmt: skip
    pd.testing.assert_frame_equal(frame, supplier_features(other, ["S1"], AS_OF))
    assert len(MONOTONE_CONSTRAINTS) == len(MODEL_FEATURES)


def test_features_on_the_small_store(small_store: Store) -> None:
    history = SupplierHistory.from_store(small_store)
    frame = supplier_features(history, history.supplier_ids, date(2025, 1, 1))
    assert len(frame) == len(history.supplier_ids) >= 60
    assert frame["has_any_history"].mean() > 0.9
    assert frame["carbon_intensity_kg_per_cny"].notna().all()
