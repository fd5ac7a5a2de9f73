"""GRI 308 (supplier environmental assessment) and GRI 414 (supplier social assessment)
figures for a reporting period, from the store and the ESG model.

The screen is the one the service applies: knock-outs first, then the model's band, as of
the last day of the period (point in time: nothing after ``date_to`` is read). "Knocked out"
is a supplier-wide gate (a listing, a major accident); a missing mark or licence restricts one
category and neither flags nor drops the supplier. Who counts:

* **in scope**: suppliers in the register on ``date_to`` (``registered_on`` on or before it,
  or not recorded);
* **screened** (GRI 308-2a, 414-2a): in scope and either knocked out or given a known band.
  A supplier with no history (band ``unknown``) is *not* screened: it waits for manual review
  (``pending_manual_review``), never counted as assessed and found clean;
* **flagged** (308-2b, 414-2b, "significant actual and potential negative impacts"): knocked
  out, or band ``high`` or ``severe``. ``flagged_by_pillar`` splits the model-flagged ones by
  the pillar that adds most to their risk (E is GRI 308, S is GRI 414, G is governance);
* **corrective plans** (308-2d, 414-2d, "improvements agreed"): band ``high`` and not knocked
  out, whose action is a corrective plan within 90 days and an on-site audit;
* **dropped** (308-2e, 414-2e, "relationships terminated"): knocked out, or band ``severe``
  (action: reject or escalate);
* **new suppliers** (308-1, 414-1): in scope and entered in the register within the period;
  **new screened** those of them screened as above. The screen applies the environmental and
  the social criteria together, so the environmental and social figures are the same count.

``active_in_period`` counts suppliers in scope that placed a valid bid in the period, and
``active_flagged`` those of them flagged; ``corrective_actions_closed`` counts the
``corrective_action_closed`` events dated in the period (the store's record of completed
improvement plans).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from features.esg.history import SupplierHistory
from models.esg.ranking import screen_suppliers
from store.database import Store

if TYPE_CHECKING:
    from models.esg.model import EsgModel

FLAGGED_BANDS = frozenset({"high", "severe"})
CORRECTIVE_PLAN_BAND = "high"
DROPPED_BAND = "severe"
UNKNOWN_BAND = "unknown"
CORRECTIVE_ACTION_CLOSED = "corrective_action_closed"
REPORT_PILLARS: tuple[str, ...] = ("E", "S", "G")

# columns of the register frame
SUPPLIER_ID = "supplier_id"
REGISTERED_ON = "registered_on"


class BandedSupplier(Protocol):
    """What the report reads of an ESG assessment (``models.esg.model.EsgAssessment``)."""

    @property
    def band(self) -> str: ...
    @property
    def pillars(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class GriFigures:
    date_from: date
    date_to: date
    in_scope: int
    screened: int
    pending_manual_review: int
    knocked_out: int
    flagged: int
    flagged_by_pillar: dict[str, int] = field(default_factory=dict)
    corrective_plans: int = 0
    dropped: int = 0
    new_suppliers: int = 0
    new_screened: int = 0
    active_in_period: int = 0
    active_flagged: int = 0
    corrective_actions_closed: int = 0
    bands: dict[str, int] = field(default_factory=dict)

    @property
    def screened_share(self) -> float | None:
        return self.screened / self.in_scope if self.in_scope else None

    @property
    def new_screened_share(self) -> float | None:
        """GRI 308-1 / 414-1: share of new suppliers screened with E / S criteria."""
        return self.new_screened / self.new_suppliers if self.new_suppliers else None


class PeriodError(ValueError):
    """The reporting period is empty or reversed."""


def _pillar_value(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return float("-inf")
    return number if number == number else float("-inf")


def main_pillar(pillars: Mapping[str, Any]) -> str | None:
    """The pillar adding most to the risk (largest value); ``None`` if none is known."""
    known = {p: _pillar_value(pillars.get(p)) for p in REPORT_PILLARS}
    best = max(known, key=lambda p: known[p])
    return best if known[best] != float("-inf") else None


def gri_figures(
    register: pd.DataFrame,
    assessments: Mapping[str, BandedSupplier],
    knocked_out: Collection[str],
    *,
    date_from: date,
    date_to: date,
    active: Collection[str] = (),
    corrective_actions_closed: int = 0,
) -> GriFigures:
    """The figures from the screen's results. ``register`` has ``SUPPLIER_ID`` and
    ``REGISTERED_ON`` (a date or missing); ``assessments`` maps supplier id to its assessment
    as of ``date_to`` (absent counts as unknown); ``knocked_out`` holds the ids with at least
    one knock-out on ``date_to``; ``active`` the ids with a valid bid in the period."""
    if date_from > date_to:
        raise PeriodError(f"the period starts ({date_from}) after it ends ({date_to})")
    registered = pd.to_datetime(register[REGISTERED_ON], errors="coerce").dt.date
    in_scope_mask = registered.isna() | (registered <= date_to)
    scope = register.loc[in_scope_mask, SUPPLIER_ID].astype(str).tolist()
    new = set(register.loc[in_scope_mask & (registered >= date_from), SUPPLIER_ID].astype(str))
    out = set(knocked_out)

    bands: dict[str, int] = {}
    screened: set[str] = set()
    flagged: set[str] = set()
    by_pillar = dict.fromkeys(REPORT_PILLARS, 0)
    corrective = dropped = pending = 0
    for supplier_id in scope:
        assessment = assessments.get(supplier_id)
        band = UNKNOWN_BAND if assessment is None else str(assessment.band)
        bands[band] = bands.get(band, 0) + 1
        if supplier_id in out:
            screened.add(supplier_id)
            flagged.add(supplier_id)
            dropped += 1
            continue
        if band == UNKNOWN_BAND or assessment is None:
            pending += 1
            continue
        screened.add(supplier_id)
        if band in FLAGGED_BANDS:
            flagged.add(supplier_id)
            pillar = main_pillar(assessment.pillars)
            if pillar is not None:
                by_pillar[pillar] += 1
        corrective += band == CORRECTIVE_PLAN_BAND
        dropped += band == DROPPED_BAND
    active_in_scope = set(active) & set(scope)
    return GriFigures(
        date_from=date_from,
        date_to=date_to,
        in_scope=len(scope),
        screened=len(screened),
        pending_manual_review=pending,
        knocked_out=len(out & set(scope)),
        flagged=len(flagged),
        flagged_by_pillar=by_pillar,
        corrective_plans=corrective,
        dropped=dropped,
        new_suppliers=len(new),
        new_screened=len(new & screened),
        active_in_period=len(active_in_scope),
        active_flagged=len(active_in_scope & flagged),
        corrective_actions_closed=corrective_actions_closed,
        bands=dict(sorted(bands.items())),
    )


@dataclass(frozen=True)
class PeriodRecords:
    """What the report reads from the store for a period."""

    register: pd.DataFrame  # SUPPLIER_ID, REGISTERED_ON
    active: set[str]
    corrective_actions_closed: int


def period_records(store: Store, date_from: date, date_to: date) -> PeriodRecords:
    """The register, the suppliers with a valid bid dated in the period and the corrective
    actions closed in it. Dates are inclusive; bid times are compared by calendar day."""
    if date_from > date_to:
        raise PeriodError(f"the period starts ({date_from}) after it ends ({date_to})")
    register = store.query(f"SELECT {SUPPLIER_ID}, {REGISTERED_ON} FROM suppliers ORDER BY 1")
    active = store.query(
        "SELECT DISTINCT UNNEST(tenderer_ids) AS supplier_id FROM bids "
        "WHERE status = 'valid' AND CAST(bid_date AS DATE) BETWEEN ? AND ?",
        [date_from, date_to],
    )
    closed = store.query(
        "SELECT COUNT(*) AS n FROM supplier_events "
        "WHERE event_type = ? AND event_date BETWEEN ? AND ?",
        [CORRECTIVE_ACTION_CLOSED, date_from, date_to],
    )
    return PeriodRecords(
        register=register,
        active=set(active[SUPPLIER_ID].dropna().astype(str)),
        corrective_actions_closed=int(closed["n"].iloc[0]),
    )


def esg_report(
    records: PeriodRecords,
    history: SupplierHistory,
    model: EsgModel,
    date_from: date,
    date_to: date,
) -> GriFigures:
    """The figures for ``[date_from, date_to]`` from the period's records
    (``period_records``), every in-scope supplier screened as of ``date_to``."""
    registered = pd.to_datetime(records.register[REGISTERED_ON], errors="coerce").dt.date
    in_scope = records.register.loc[
        registered.isna() | (registered <= date_to), SUPPLIER_ID
    ].astype(str)
    # the figures read bands, pillars and gates, never the reasons: k=0 skips writing them
    screen = screen_suppliers(history, model, in_scope.tolist(), date_to, k=0)
    return gri_figures(
        records.register,
        screen.assessments,
        set(screen.knockouts),
        date_from=date_from,
        date_to=date_to,
        active=records.active,
        corrective_actions_closed=records.corrective_actions_closed,
    )
