"""Supplier ESG features as of a date: one code path for training snapshots and serving.

``supplier_features(history, supplier_ids, as_of)`` gives one row per supplier id (in the
order given; duplicates kept): ``IDENTITY_COLUMNS`` then every ``FEATURES`` column.
``supplier_rows`` gives the same rows as dicts (every feature a Python float), for the
service, which scores one or a few suppliers without building a frame. Point in
time: events, deliveries and listings count only when dated strictly *before* ``as_of``;
a certificate counts when in force at ``as_of`` and backed by a document (the evidence rule:
a claim without one is absent, never good). Windows: 36 months (1,095 days) for counts, 60
for listings and bribery, 365 days for deliveries; decayed indices halve every
``HALF_LIFE_DAYS``.

Negative events count whether or not the record carries a document (public registers are
the source; an undocumented penalty must not make a supplier look safer); a corrective-action
closure counts only with its document.

Two register values are read without a date: the tax credit grade and the reported carbon
intensity (the register keeps only the latest). On training snapshots this lets a later
value describe an earlier date; both are slow-moving and the leak is stated here rather than
hidden.

An unregistered supplier id gets a row with nothing known (``has_any_history = 0``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta

import pandas as pd

from features.esg.history import SupplierHistory, SupplierRecord
from features.esg.knockouts import (
    MARK_REQUIRED_CATEGORIES,
    MARK_TYPES,
    REQUIRED_LICENCES,
    active_listings,
)
from features.esg.specs import AS_OF, FEATURE_NAMES, HAS_ANY_HISTORY, IDENTITY_COLUMNS, SUPPLIER_ID

OUTPUT_COLUMNS: list[str] = [*IDENTITY_COLUMNS, *FEATURE_NAMES]
HALF_LIFE_DAYS = 365.0
WINDOW_36M = timedelta(days=3 * 365)
WINDOW_60M = timedelta(days=5 * 365)
WINDOW_365D = timedelta(days=365)

ENV_SEVERITY_WEIGHTS = {"minor": 1.0, "serious": 2.0, "major": 4.0}
ACCIDENT_GRADE_WEIGHTS = {"general": 1.0, "larger": 3.0, "major": 6.0, "extraordinary": 10.0}
ACCIDENT_GRADE_RANKS = {"general": 1, "larger": 2, "major": 3, "extraordinary": 4}
TAX_GRADE_RANKS = {"A": 0, "B": 1, "M": 2, "C": 3, "D": 4}
HIGH_ENVIRONMENTAL_MATERIALITY = frozenset({"M10", "M11", "M13", "M14"})
HIGH_SAFETY_MATERIALITY = frozenset({"M09", "M19"})
"""DOMAIN.md: environment weighs most for steel, cement and chemicals; labour and safety for
explosives and on-site services."""
GOVERNANCE_LISTING_TYPES = frozenset(
    {"debarment", "court_defaulter", "serious_violation_list", "tax_violation"}
)
POSITIVE_EVENT_TYPES = frozenset({"corrective_action_closed"})


def _decay(age_days: int) -> float:
    return 0.5 ** (age_days / HALF_LIFE_DAYS)


def _certificate_features(record: SupplierRecord, as_of: date, out: dict[str, float]) -> None:
    issued = [c for c in record.certifications if c.valid_from is None or c.valid_from <= as_of]
    valid_types = {c.cert_type for c in issued if c.valid_at(as_of)}
    out["iso14001_valid"] = float("ISO14001" in valid_types)
    out["iso50001_valid"] = float("ISO50001" in valid_types)
    out["green_label_valid"] = float(bool(valid_types & {"env_label", "green_factory"}))
    out["iso45001_valid"] = float("ISO45001" in valid_types)
    out["iso9001_valid"] = float("ISO9001" in valid_types)
    out["claims_without_evidence"] = float(
        sum(
            1
            for c in issued
            if c.evidence_document is None and (c.valid_to is None or as_of <= c.valid_to)
        )
    )
    marks_missing = 0
    licences_missing = 0
    for category in record.categories:
        if category in MARK_REQUIRED_CATEGORIES and not any(
            c.cert_type in MARK_TYPES and c.category == category and c.valid_at(as_of)
            for c in issued
        ):
            marks_missing += 1
        for licence in REQUIRED_LICENCES.get(category, ()):
            if not any(
                c.cert_type == licence and c.category == category and c.valid_at(as_of)
                for c in issued
            ):
                licences_missing += 1
    out["required_marks_missing"] = float(marks_missing)
    out["required_licences_missing"] = float(licences_missing)


def _event_features(record: SupplierRecord, as_of: date, out: dict[str, float]) -> None:
    start_36, start_60 = as_of - WINDOW_36M, as_of - WINDOW_60M
    env_count = env_serious = 0
    env_decayed = env_fines = 0.0
    accidents = deaths = worst = 0
    accident_decayed = 0.0
    labour = quality = litigation = bribery = listings_60 = negatives = closures = 0
    for event in record.events:
        when = event.event_date
        if when >= as_of:
            break
        age = (as_of - when).days
        kind = event.event_type
        if kind == "env_penalty":
            env_decayed += ENV_SEVERITY_WEIGHTS.get(event.severity or "minor", 1.0) * _decay(age)
        elif kind == "safety_accident":
            weight = ACCIDENT_GRADE_WEIGHTS.get(event.severity or "general", 1.0)
            accident_decayed += weight * _decay(age)
        if when >= start_60:
            if kind in GOVERNANCE_LISTING_TYPES:
                listings_60 += 1
            elif kind == "bribery_finding":
                bribery += 1
        if when < start_36:
            continue
        if kind in POSITIVE_EVENT_TYPES:
            closures += event.evidence_document is not None
            continue
        negatives += 1
        if kind == "env_penalty":
            env_count += 1
            env_serious += (event.severity or "") in ("serious", "major")
            env_fines += event.fine_cny
        elif kind == "safety_accident":
            accidents += 1
            deaths += event.deaths
            worst = max(worst, ACCIDENT_GRADE_RANKS.get(event.severity or "general", 1))
        elif kind in ("labour_dispute", "wage_arrears"):
            labour += 1
        elif kind == "quality_failure":
            quality += 1
        elif kind == "litigation":
            litigation += 1
    active = active_listings(record.events, as_of, inclusive=False)
    out["env_penalty_count_36m"] = float(env_count)
    out["env_penalty_decayed"] = env_decayed
    out["env_serious_penalty_count_36m"] = float(env_serious)
    out["env_fines_log10_cny_36m"] = math.log10(1.0 + env_fines)
    out["safety_accident_count_36m"] = float(accidents)
    out["safety_accident_decayed"] = accident_decayed
    out["accident_deaths_36m"] = float(deaths)
    out["worst_accident_grade_36m"] = float(worst)
    out["safety_blacklist_listed"] = float(
        any(e.event_type == "safety_blacklist" for e, _ in active)
    )
    out["labour_events_count_36m"] = float(labour)
    out["quality_failure_count_36m"] = float(quality)
    out["governance_listings_active"] = float(
        sum(e.event_type in GOVERNANCE_LISTING_TYPES for e, _ in active)
    )
    out["governance_listings_60m"] = float(listings_60)
    out["bribery_finding_count_60m"] = float(bribery)
    out["litigation_count_36m"] = float(litigation)
    out["corrective_closure_ratio_36m"] = min(1.0, closures / negatives) if negatives else math.nan


def _performance_features(record: SupplierRecord, as_of: date, out: dict[str, float]) -> None:
    start = as_of - WINDOW_365D
    recent = [d for d in record.deliveries if start <= d.when < as_of]
    delivered = [d for d in recent if d.delivered]
    out["deliveries_365d"] = float(len(delivered))
    out["late_delivery_share_365d"] = (
        sum(d.late for d in delivered) / len(delivered) if delivered else math.nan
    )
    out["quality_rejections_365d"] = float(sum(d.rejected for d in recent))


def _has_any_history(record: SupplierRecord, as_of: date) -> bool:
    return (
        any(e.event_date < as_of for e in record.events[:1])
        or any(c.valid_from is None or c.valid_from <= as_of for c in record.certifications)
        or any(d.when < as_of for d in record.deliveries[:1])
    )


def supplier_row(history: SupplierHistory, supplier_id: str, as_of: date) -> dict[str, object]:
    """The feature dict of one supplier as of ``as_of`` (``OUTPUT_COLUMNS`` keys)."""
    record = history.get(supplier_id)
    out: dict[str, float] = {}
    _certificate_features(record, as_of, out)
    _event_features(record, as_of, out)
    _performance_features(record, as_of, out)
    out["carbon_intensity_kg_per_cny"] = record.carbon_intensity
    out["carbon_intensity_reported"] = float(record.carbon_reported)
    categories = set(record.categories)
    out["high_environmental_materiality"] = float(bool(categories & HIGH_ENVIRONMENTAL_MATERIALITY))
    out["high_safety_materiality"] = float(bool(categories & HIGH_SAFETY_MATERIALITY))
    grade = record.tax_credit_grade
    out["tax_credit_grade_rank"] = (
        float(TAX_GRADE_RANKS[grade]) if grade in TAX_GRADE_RANKS else math.nan
    )
    out[HAS_ANY_HISTORY] = float(_has_any_history(record, as_of))
    return {SUPPLIER_ID: supplier_id, AS_OF: as_of, **{name: out[name] for name in FEATURE_NAMES}}


def supplier_rows(
    history: SupplierHistory, supplier_ids: Sequence[str], as_of: date
) -> list[dict[str, object]]:
    """``supplier_row`` of every id, in order: what ``supplier_features`` makes a frame of,
    and what the service scores straight from (``EsgModel.assess_rows``)."""
    if isinstance(as_of, pd.Timestamp):
        as_of = as_of.date()
    return [supplier_row(history, str(sid), as_of) for sid in supplier_ids]


def supplier_features(
    history: SupplierHistory, supplier_ids: Sequence[str], as_of: date
) -> pd.DataFrame:
    """One row per id in ``supplier_ids`` (``OUTPUT_COLUMNS``), features as of ``as_of``."""
    frame = pd.DataFrame(supplier_rows(history, supplier_ids, as_of), columns=OUTPUT_COLUMNS)
    frame[FEATURE_NAMES] = frame[FEATURE_NAMES].astype("float64")
    return frame


# --------------------------------------------------------------------------------------------
# Evidence behind a feature (for reasons)

_FEATURE_EVENT_TYPES: dict[str, tuple[frozenset[str], timedelta | None]] = {
    "env_penalty_count_36m": (frozenset({"env_penalty"}), WINDOW_36M),
    "env_penalty_decayed": (frozenset({"env_penalty"}), None),
    "env_serious_penalty_count_36m": (frozenset({"env_penalty"}), WINDOW_36M),
    "env_fines_log10_cny_36m": (frozenset({"env_penalty"}), WINDOW_36M),
    "safety_accident_count_36m": (frozenset({"safety_accident"}), WINDOW_36M),
    "safety_accident_decayed": (frozenset({"safety_accident"}), None),
    "accident_deaths_36m": (frozenset({"safety_accident"}), WINDOW_36M),
    "worst_accident_grade_36m": (frozenset({"safety_accident"}), WINDOW_36M),
    "safety_blacklist_listed": (frozenset({"safety_blacklist"}), None),
    "labour_events_count_36m": (frozenset({"labour_dispute", "wage_arrears"}), WINDOW_36M),
    "quality_failure_count_36m": (frozenset({"quality_failure"}), WINDOW_36M),
    "governance_listings_active": (GOVERNANCE_LISTING_TYPES, None),
    "governance_listings_60m": (GOVERNANCE_LISTING_TYPES, WINDOW_60M),
    "bribery_finding_count_60m": (frozenset({"bribery_finding"}), WINDOW_60M),
    "litigation_count_36m": (frozenset({"litigation"}), WINDOW_36M),
    "corrective_closure_ratio_36m": (POSITIVE_EVENT_TYPES, WINDOW_36M),
}
_FEATURE_CERTIFICATES: dict[str, frozenset[str]] = {
    "iso14001_valid": frozenset({"ISO14001"}),
    "iso50001_valid": frozenset({"ISO50001"}),
    "green_label_valid": frozenset({"env_label", "green_factory"}),
    "iso45001_valid": frozenset({"ISO45001"}),
    "iso9001_valid": frozenset({"ISO9001"}),
    "required_marks_missing": MARK_TYPES,
    "required_licences_missing": frozenset(
        licence for licences in REQUIRED_LICENCES.values() for licence in licences
    ),
}


def feature_evidence(
    history: SupplierHistory, supplier_id: str, as_of: date, feature: str
) -> tuple[str | None, date | None]:
    """(document reference, date) behind a feature as of ``as_of``: the latest matching event
    before it (its document, else its event id), or the latest matching certificate (its
    document, dated by its expiry); ``(None, None)`` when nothing stands behind it."""
    record = history.get(supplier_id)
    if feature in _FEATURE_EVENT_TYPES:
        types, window = _FEATURE_EVENT_TYPES[feature]
        start = as_of - window if window is not None else date.min
        matching = [
            e for e in record.events if e.event_type in types and start <= e.event_date < as_of
        ]
        if not matching:
            return None, None
        latest = matching[-1]
        return latest.evidence_document or latest.event_id, latest.event_date
    if feature in _FEATURE_CERTIFICATES:
        types = _FEATURE_CERTIFICATES[feature]
        held = [
            c
            for c in record.certifications
            if c.cert_type in types and (c.valid_from is None or c.valid_from <= as_of)
        ]
        if not held:
            return None, None
        certificate = max(held, key=lambda c: c.valid_to or date.min)
        return certificate.evidence_document or certificate.cert_no, certificate.valid_to
    return None, None
