"""GRI 308/414 figures on a hand-counted register, and the period's records from a store."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from models.esg.model import ACTIONS, EsgAssessment
from models.esg.reporting import (
    REGISTERED_ON,
    SUPPLIER_ID,
    PeriodError,
    gri_figures,
    main_pillar,
    period_records,
)
from store.database import Store

START, END = date(2025, 1, 1), date(2025, 12, 31)


def assessment(supplier_id: str, band: str, pillars: dict[str, float]) -> EsgAssessment:
    return EsgAssessment(
        supplier_id=supplier_id,
        as_of=END,
        score=0.0,
        probability=0.0,
        raw_score=0.0,
        band=band,
        action=ACTIONS[band],
        action_en="",
        action_zh="",
        pillars=pillars,
        unknown=band == "unknown",
    )


# id, registered_on, band (None: not assessed), knocked out
SUPPLIERS = [
    ("S1", date(2020, 1, 1), "negligible", False),
    ("S2", date(2020, 1, 1), "medium", False),
    ("S3", date(2020, 1, 1), "high", False),  # corrective plan, flagged (S pillar)
    ("S4", date(2020, 1, 1), "severe", False),  # dropped, flagged (E pillar)
    ("S5", date(2020, 1, 1), "low", True),  # knocked out: dropped and flagged
    ("S6", date(2025, 3, 1), "unknown", False),  # new, not screened: manual review
    ("S7", date(2025, 6, 1), "low", False),  # new and screened
    ("S8", date(2026, 2, 1), "low", False),  # registered after the period: not in scope
    ("S9", None, None, False),  # no registration date: in scope; no assessment: unknown
]
PILLARS = {"S3": {"E": 10.0, "S": 35.0, "G": 12.0}, "S4": {"E": 50.0, "S": 20.0, "G": 41.0}}


def _inputs() -> tuple[pd.DataFrame, dict[str, EsgAssessment], set[str]]:
    register = pd.DataFrame(
        [{SUPPLIER_ID: sid, REGISTERED_ON: registered} for sid, registered, _, _ in SUPPLIERS]
    )
    assessments = {
        sid: assessment(sid, band, PILLARS.get(sid, {"E": 1.0, "S": 1.0, "G": 1.0}))
        for sid, _, band, _ in SUPPLIERS
        if band is not None
    }
    knocked_out = {sid for sid, _, _, out in SUPPLIERS if out}
    return register, assessments, knocked_out


def test_figures_on_a_hand_counted_register() -> None:
    register, assessments, knocked_out = _inputs()
    figures = gri_figures(
        register,
        assessments,
        knocked_out,
        date_from=START,
        date_to=END,
        active={"S3", "S5", "S1", "S8", "X"},
        corrective_actions_closed=4,
    )
    assert figures.in_scope == 8  # S1-S7 and S9
    assert figures.screened == 6  # S1-S5, S7
    assert figures.pending_manual_review == 2  # S6 (unknown), S9 (no assessment)
    assert figures.knocked_out == 1
    assert figures.flagged == 3  # S3, S4, S5
    assert figures.flagged_by_pillar == {"E": 1, "S": 1, "G": 0}
    assert figures.corrective_plans == 1  # S3
    assert figures.dropped == 2  # S4 severe, S5 knocked out
    assert (figures.new_suppliers, figures.new_screened) == (2, 1)  # S6, S7
    assert figures.new_screened_share == pytest.approx(0.5)
    assert figures.screened_share == pytest.approx(6 / 8)
    assert (figures.active_in_period, figures.active_flagged) == (3, 2)  # S8, X out of scope
    assert figures.corrective_actions_closed == 4
    assert figures.bands == {
        "high": 1,
        "low": 2,
        "medium": 1,
        "negligible": 1,
        "severe": 1,
        "unknown": 2,
    }


def test_unknown_is_never_counted_as_screened_clean() -> None:
    register = pd.DataFrame([{SUPPLIER_ID: "S", REGISTERED_ON: date(2020, 1, 1)}])
    figures = gri_figures(
        register, {"S": assessment("S", "unknown", {})}, set(), date_from=START, date_to=END
    )
    assert (figures.screened, figures.pending_manual_review, figures.flagged) == (0, 1, 0)


def test_a_reversed_period_is_refused() -> None:
    register, assessments, knocked_out = _inputs()
    with pytest.raises(PeriodError):
        gri_figures(register, assessments, knocked_out, date_from=END, date_to=START)


def test_main_pillar() -> None:
    assert main_pillar({"E": 1.0, "S": 3.0, "G": 2.0}) == "S"
    assert main_pillar({"E": float("nan"), "S": None}) is None


def test_period_records_from_the_store(store: Store) -> None:
    store.insert_new(
        "suppliers",
        pd.DataFrame(
            [
                {"supplier_id": "S1", "registered_on": date(2020, 1, 1)},
                {"supplier_id": "S2", "registered_on": date(2025, 2, 1)},
            ]
        ),
    )
    store.insert_new(
        "bids",
        pd.DataFrame(
            [
                {
                    "ocid": "T",
                    "bid_id": "1",
                    "bid_date": datetime(2025, 3, 31, 23),
                    "status": "valid",
                    "tenderer_ids": ["S1"],
                },
                {
                    "ocid": "T",
                    "bid_id": "2",
                    "bid_date": datetime(2025, 4, 1, 9),
                    "status": "valid",
                    "tenderer_ids": ["S2"],
                },
                {
                    "ocid": "T",
                    "bid_id": "3",
                    "bid_date": datetime(2025, 3, 2),
                    "status": "disqualified",
                    "tenderer_ids": ["S3"],
                },
            ]
        ),
    )
    store.insert_new(
        "supplier_events",
        pd.DataFrame(
            [
                {
                    "event_id": "E1",
                    "supplier_id": "S1",
                    "event_type": "corrective_action_closed",
                    "event_date": date(2025, 3, 5),
                },
                {
                    "event_id": "E2",
                    "supplier_id": "S1",
                    "event_type": "corrective_action_closed",
                    "event_date": date(2025, 4, 5),
                },
                {
                    "event_id": "E3",
                    "supplier_id": "S1",
                    "event_type": "env_penalty",
                    "event_date": date(2025, 3, 6),
                },
            ]
        ),
    )
    records = period_records(store, date(2025, 3, 1), date(2025, 3, 31))
    assert records.register[SUPPLIER_ID].tolist() == ["S1", "S2"]
    assert records.active == {"S1"}  # the last day counts whole; disqualified bids do not
    assert records.corrective_actions_closed == 1
    with pytest.raises(PeriodError):
        period_records(store, date(2025, 4, 1), date(2025, 3, 1))
