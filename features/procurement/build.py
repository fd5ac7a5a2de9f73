"""Procurement-risk features of a contracting process, as of its decision date: one code path
for batch training and online serving.

* ``process_features(history, process, as_of=None)``: the feature dict of one process (a
  ``ProcessRecord`` from the store, or an OCDS compiled release).
* ``build_process_features(history, ocids=None)``: one row per stored process (batch).
* ``features_for_release(history, release)``: one row for one incoming compiled release (the
  API's path). The release is validated, flattened by the OCDS reader's own
  ``ReleaseFlattener`` into the rows the store would hold, and turned into the same
  ``ProcessRecord`` a stored process becomes; the same ``process_features`` then runs. A
  release taken from the store's source file gives exactly its batch row.

Every row holds ``IDENTITY_COLUMNS`` then every ``FEATURES`` column, in that order. The
process's own facts (method, estimate, bids, award, items, contract amendments up to the
decision date) come from its record; everything about other processes comes from the history
strictly before the decision date (``features.procurement.history`` defines both dates and
the exclusions). Windows: unit prices 180 days, split purchases 30 days, concentration,
relationships, rotation, win ratio and deliveries 365 days.

Unknown suppliers are allowed: a release whose winner is not in the supplier register gets
``supplier_known = 0`` and missing (NaN) winner-history features (spend share, relationship,
first award, win ratio, split purchases, deliveries), because the history cannot be trusted to
describe it; its other features are computed as usual.

Cardinal. R003, R018, R028, R030, R035 and R036 come from ``redflags.flags_for_process`` on the
process alone. R024 and R058 use Cardinal's winner/second-lowest ratio against fences (R-8
quartiles ± 1.5 IQR) of the ratios of processes awarded before the decision day; both stay 0
until 30 earlier ratios exist. R025, R038 and R048 are organisation-level indicators over a
whole data set and are not per-process features; the winner's win ratio and history features
carry their information point in time.

Bid screens. The screens are ``features.procurement.screens.tender_screens`` (one tender in
plain Python; the same table as ``screens.bid_screens``), computed per lot on the submitted
bids with a positive amount; a process with several lots gets the bid count summed and every
other screen averaged over its lots.

Bid rigging. ``collusion_score`` is the given collusion detector's probability (``collusion=``,
the registered ``collusion`` version the risk model was trained with), its screens ranked
against the group's tenders awarded in the 365 days before (the history's ``bid_screens``
index; ``collusion.point_in_time``); without a detector, the CV rule ranked the same way;
``law40_regular_price_pattern`` and ``law44_fewer_than_three_bidders`` are the signs of the
Implementing Regulations of the Bidding Law that prices carry (identical prices, art. 40 (4),
are Cardinal's R028 already). All three take the highest value over the lots.

Members' reports. The ``features.procurement.feedback`` columns count the reports linked to the
process or to its suppliers (``supplier_ids``) submitted strictly before the moment, decayed
by age (``history.reports``: the store's reports when the history was read, plus any added
with ``ProcurementHistory.with_reports``); 0 where none counts, or when the process has no
date.

``bench_procurement_features`` measures the batch build and the online path.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Mapping
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from core.settings import Settings
from features.procurement.collusion.point_in_time import (
    COLLUSION_SCORE,
    LAW40_REGULAR_PRICE_PATTERN,
    LAW44_FEWER_THAN_THREE_BIDDERS,
    MIN_BIDS,
    MIN_REFERENCE,
    REFERENCE_DAYS,
    CollusionScorer,
    detector_score,
    reference_keys,
    regular_price_pattern,
    sample_cv,
    share_varying_more,
)
from features.procurement.evidence import red_flags_as_of
from features.procurement.history import (
    DAY_NS,
    ProcessRecord,
    ProcurementHistory,
    to_ns,
)
from features.procurement.history.loading import (
    PROCESSES_PER_CHUNK,
    load_range_frames,
    ocid_ranges,
    records_from_frames,
)
from features.procurement.screens import (
    ALTERNATIVE_DISTANCE,
    BID_COUNT,
    BID_CV,
    BID_KURTOSIS,
    BID_SKEWNESS,
    BID_SPREAD,
    KS_UNIFORM_DISTANCE,
    MEAN_BID_TO_ESTIMATE_RATIO,
    NORMALISED_DISTANCE,
    RELATIVE_DISTANCE,
    TWO_LOWEST_PCT_DIFF,
    WINNER_TO_ESTIMATE_RATIO,
    tender_screens,
)
from features.procurement.specs import (
    CATEGORICAL_FEATURES,
    FEATURE_NAMES,
    IDENTITY_COLUMNS,
)
from ingest.readers.common import RecordError
from store.database import StoreReader

_NAN = float("nan")
_FAR_FUTURE = int(np.iinfo(np.int64).max)
OUTPUT_COLUMNS: list[str] = [*IDENTITY_COLUMNS, *FEATURE_NAMES]
_NUMERIC = frozenset(FEATURE_NAMES) - frozenset(CATEGORICAL_FEATURES)
_CHUNK = 10_000  # rows built per frame in batch (bounds the memory of the row dicts)

SCREEN_FEATURES: tuple[str, ...] = (
    BID_COUNT,
    BID_CV,
    BID_SPREAD,
    TWO_LOWEST_PCT_DIFF,
    BID_SKEWNESS,
    BID_KURTOSIS,
    RELATIVE_DISTANCE,
    NORMALISED_DISTANCE,
    ALTERNATIVE_DISTANCE,
    KS_UNIFORM_DISTANCE,
    WINNER_TO_ESTIMATE_RATIO,
    MEAN_BID_TO_ESTIMATE_RATIO,
)
CARDINAL_FLAG_FEATURES: dict[str, str] = {
    "R003": "flag_r003_short_submission_period",
    "R018": "flag_r018_single_bid",
    "R024": "flag_r024_price_close_to_winning_bid",
    "R028": "flag_r028_identical_bid_prices",
    "R030": "flag_r030_late_bid_won",
    "R035": "flag_r035_all_except_winner_disqualified",
    "R036": "flag_r036_lowest_bid_disqualified",
    "R058": "flag_r058_heavily_discounted_bid",
}
WINNER_HISTORY_FEATURES: tuple[str, ...] = (
    "winner_share_of_buyer_spend_365d",
    "buyer_supplier_award_count_365d",
    "buyer_supplier_direct_award_count_365d",
    "buyer_supplier_relationship_days",
    "supplier_days_since_first_award",
    "supplier_first_award",
    "supplier_win_ratio_365d",
    "supplier_bid_count_365d",
    "order_value_to_approval_threshold",
    "split_purchase_count_30d",
    "split_purchase_sum_to_threshold_30d",
    "split_purchase_over_threshold_30d",
    "supplier_deliveries_365d",
    "supplier_late_delivery_share_365d",
    "supplier_mean_delivery_delay_days_365d",
    "supplier_quality_rejections_365d",
)
RELATED_KINDS: tuple[tuple[str, str], ...] = (
    ("phone", "related_bidder_pairs_phone"),
    ("address", "related_bidder_pairs_address"),
    ("legal_representative", "related_bidder_pairs_legal_representative"),
    ("bank_account", "related_bidder_pairs_bank_account"),
)


class ReleaseError(ValueError):
    """An incoming release cannot be scored. ``location`` is the JSON path of the offending
    field (``""`` for the release itself); ``reason`` says what is wrong, never quoting
    personal data."""

    def __init__(self, location: str, reason: str) -> None:
        super().__init__(f"{location or '<release>'}: {reason}")
        self.location = location
        self.reason = reason


# --------------------------------------------------------------------------------------------
# Incoming releases


_AMOUNT_PATHS = (
    # (path to an array or object, key of the Value object inside each element)
    ("tender", "value"),
    ("tender.lots[]", "value"),
    ("tender.items[].unit", "value"),
    ("bids.details[]", "value"),
    ("awards[]", "value"),
    ("contracts[]", "value"),
    ("contracts[].implementation.transactions[]", "value"),
    ("contracts[].implementation.transactions[]", "amount"),
)


def _walk(node: Any, steps: list[str], path: str) -> Iterable[tuple[dict[str, Any], str]]:
    """The objects at ``steps`` below ``node`` (``name[]`` = every element of an array), with
    their JSON paths; branches of the wrong type are left to the flattener to report."""
    if not steps:
        if isinstance(node, dict):
            yield node, path
        return
    step, rest = steps[0], steps[1:]
    if not isinstance(node, dict):
        return
    if step.endswith("[]"):
        name = step[:-2]
        elements = node.get(name)
        if isinstance(elements, list):
            for position, element in enumerate(elements):
                yield from _walk(element, rest, f"{path}{name}[{position}].")
    else:
        yield from _walk(node.get(step), rest, f"{path}{step}.")


def validate_release(release: object) -> dict[str, Any]:
    """Checks the flattener does not make: amounts (and quantities) must be JSON numbers (the
    store's reader tolerates numeric text in files; an API caller must send numbers), and the
    input must be one compiled release with an ``ocid``."""
    if not isinstance(release, dict):
        raise ReleaseError(
            "", f"expected a JSON object (an OCDS release), got {type(release).__name__}"
        )
    for package_key in ("releases", "records"):
        if package_key in release:
            raise ReleaseError(package_key, "send one compiled release, not a package")
    ocid = release.get("ocid")
    if not isinstance(ocid, str) or not ocid.strip():
        raise ReleaseError("ocid", "missing" if ocid in (None, "") else "expected text")
    for parent, key in _AMOUNT_PATHS:
        for obj, path in _walk(release, parent.split(".") if parent else [], ""):
            value = obj.get(key)
            if isinstance(value, dict) and "amount" in value:
                _require_number(value["amount"], f"{path}{key}.amount")
    for item, path in _walk(release, ["tender", "items[]"], ""):
        if "quantity" in item:
            _require_number(item["quantity"], f"{path}quantity")
    return release


def _require_number(value: object, location: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = "text" if isinstance(value, str) else type(value).__name__
        raise ReleaseError(location, f"expected a number, got {kind}")
    if not math.isfinite(value):
        raise ReleaseError(location, "expected a finite number")


def record_from_release(history: ProcurementHistory, release: object) -> ProcessRecord:
    """Validate one OCDS compiled release and turn it into a ``ProcessRecord`` through the OCDS
    reader's flattener (so that it is exactly what the store would hold)."""
    checked = validate_release(release)
    flattener = history.release_flattener()
    ocid = str(checked["ocid"]).strip()
    try:
        rows = flattener.rows(ocid, checked)
    except RecordError as error:
        location, _, reason = str(error).partition(": ")
        raise ReleaseError(location, reason or str(error)) from None
    record = ProcessRecord(rows)
    if record.decision_date is None:
        raise ReleaseError(
            "date",
            "no date to score the process as of: give awards[].date, "
            "tender.tenderPeriod.endDate, tender.tenderPeriod.startDate or date",
        )
    if record.awarded and not record.is_direct and not _priced_bids(record):
        bids = checked.get("bids")
        location = "bids.details" if isinstance(bids, dict) else "bids"
        raise ReleaseError(
            location,
            "an awarded competitive procedure needs its bids (bids.details with priced bids)",
        )
    return record


def _priced_bids(record: ProcessRecord) -> list[tuple[str, float]]:
    """``(lot, amount)`` of the submitted bids with a positive amount."""
    return [
        (bid.lots[0] if bid.lots else "", bid.amount)
        for bid in record.submitted_bids
        if bid.amount > 0
    ]


# --------------------------------------------------------------------------------------------
# Feature families


def _process_basics(record: ProcessRecord, history: ProcurementHistory, out: dict) -> None:
    rules = history.rules
    out["procurement_method"] = record.method
    out["material_category"] = record.category
    estimate = record.estimate
    out["estimate_log10_cny"] = math.log10(estimate) if estimate > 0 else _NAN
    out["award_to_estimate_ratio"] = record.award_total / estimate if estimate > 0 else _NAN
    days = _NAN
    if record.tender_start is not None and record.tender_end is not None:
        days = (record.tender_end - record.tender_start) / DAY_NS
    out["tender_period_days"] = days
    value = record.award_total if record.awarded and record.award_total > 0 else estimate
    legal = value >= rules.legal_tender_threshold_cny
    out["tender_period_below_legal_minimum"] = float(legal and days < rules.minimum_tender_days)
    direct = record.is_direct
    out["is_single_source"] = float(direct)
    out["single_source_above_approval_threshold"] = float(
        direct and value >= min(rules.approval_thresholds_cny, default=math.inf)
    )
    out["single_source_above_legal_threshold"] = float(direct and legal)
    submitted = record.submitted_bids
    disqualified = sum(1 for bid in submitted if bid.status == "disqualified")
    out["disqualified_bid_share"] = disqualified / len(submitted) if submitted else _NAN
    suppliers = record.winners or record.bidders
    out["supplier_known"] = float(all(history.supplier_known(s) for s in suppliers))


def _red_flags(record: ProcessRecord, history: ProcurementHistory, moment: int, out: dict) -> None:
    evidence = red_flags_as_of(history, record, moment)
    for code, name in CARDINAL_FLAG_FEATURES.items():
        out[name] = float(code in evidence.values)
    out["red_flag_count"] = float(sum(code in evidence.values for code in CARDINAL_FLAG_FEATURES))
    out["winner_second_lowest_bid_gap"] = evidence.second_lowest_ratio


def _bid_screens(record: ProcessRecord, by_lot: dict[str, list[float]], out: dict) -> None:
    if len(by_lot) <= 1:
        prices = next(iter(by_lot.values()), [])
        out.update(tender_screens(prices, record.estimate))
        return
    per_lot = [tender_screens(prices, record.lots.get(lot, _NAN)) for lot, prices in by_lot.items()]
    out[BID_COUNT] = float(sum(screens[BID_COUNT] for screens in per_lot))
    for name in SCREEN_FEATURES[1:]:
        values = [screens[name] for screens in per_lot if not math.isnan(screens[name])]
        out[name] = math.fsum(values) / len(values) if values else _NAN


def _served_reference(
    history: ProcurementHistory, bid_count: int, start: int, moment: int, own: int
) -> dict[str, np.ndarray]:
    """The served screens of the earlier tenders a tender of ``bid_count`` bids is ranked
    among: its size class with ``MIN_REFERENCE`` tenders or more, else every size (however
    few; empty arrays when none)."""
    index = history.bid_screens
    selected: Any = None
    for key in reference_keys(bid_count):
        selected = index.select(key, start, moment, own)
        if selected is not None and len(index.times[selected]) >= MIN_REFERENCE:
            break
    return {
        name: column[selected] if selected is not None else column[:0]
        for name, column in index.columns.items()
    }


def _collusion(
    record: ProcessRecord,
    history: ProcurementHistory,
    by_lot: dict[str, list[float]],
    moment: int,
    own: int,
    out: dict,
    collusion: CollusionScorer | None,
) -> None:
    """The collusion score (``collusion.point_in_time``: ``collusion``'s probability, else the
    CV rule, against the group's earlier tenders) and the art. 40 and 44 signs, the highest
    over the lots."""
    out[LAW44_FEWER_THAN_THREE_BIDDERS] = float(
        not record.is_direct and any(len(prices) < MIN_BIDS for prices in by_lot.values())
    )
    scored = [prices for prices in by_lot.values() if len(prices) >= MIN_BIDS]
    out[LAW40_REGULAR_PRICE_PATTERN] = max(
        (regular_price_pattern(prices) for prices in scored), default=_NAN
    )
    start = moment - REFERENCE_DAYS * DAY_NS
    scores = []
    index = history.bid_screens
    for prices in scored:
        if collusion is not None:
            served = _served_reference(history, len(prices), start, moment, own)
            scores.append(detector_score(collusion, prices, served))
            continue
        for key in reference_keys(len(prices)):
            selected = index.select(key, start, moment, own)
            reference = None if selected is None else index.columns["bid_cv"][selected]
            if reference is not None and len(reference) >= MIN_REFERENCE:
                scores.append(share_varying_more(reference, sample_cv(prices)))
                break
    out[COLLUSION_SCORE] = max(scores, default=_NAN)


def _median_ratio(
    history_index: Any, key: object, price: float, start: int, moment: int, own: int, minimum: int
) -> tuple[float, int]:
    selected = history_index.select(key, start, moment, own)
    if selected is None:
        return _NAN, 0
    values = history_index.columns["unit_price"][selected]
    if len(values) < minimum:
        return _NAN, len(values)
    return price / float(np.median(values)), len(values)


def _price(
    record: ProcessRecord, history: ProcurementHistory, moment: int, own: int, out: dict
) -> None:
    rules = history.rules
    main = record.main_item()
    price = _NAN
    if main is not None:
        for item, unit_price in record.item_unit_prices():
            if item is main:
                price = unit_price
                break
    start = moment - rules.price_window_days * DAY_NS
    category_ratio, observations = _NAN, 0
    spec_ratio = _NAN
    if main is not None and main.classification_id is not None:
        category_ratio, observations = _median_ratio(
            history.prices,
            main.classification_id,
            price,
            start,
            moment,
            own,
            rules.min_price_observations,
        )
        spec_ratio, _ = _median_ratio(
            history.spec_prices,
            (main.classification_id, main.spec),
            price,
            start,
            moment,
            own,
            rules.min_price_observations,
        )
    out["unit_price_to_category_median_180d"] = category_ratio
    out["unit_price_to_spec_median_180d"] = spec_ratio
    out["category_price_observations_180d"] = float(observations)


def _split_purchases(
    record: ProcessRecord,
    history: ProcurementHistory,
    moment: int,
    own: int,
    winner: str,
    amount: float,
    out: dict,
) -> None:
    """Orders from the buyer to the winner in the category in the 30 days up to this one,
    each in the same approval band as this one (under the same threshold, at or above the one
    below), counting this order."""
    rules = history.rules
    thresholds = sorted(rules.approval_thresholds_cny)
    above = [t for t in thresholds if amount < t]
    if math.isnan(amount) or not above:
        out["order_value_to_approval_threshold"] = _NAN
        out["split_purchase_count_30d"] = 0.0
        out["split_purchase_sum_to_threshold_30d"] = _NAN
        out["split_purchase_over_threshold_30d"] = 0.0
        return
    threshold = above[0]
    below = max((t for t in thresholds if t < threshold), default=0.0)
    count, total = 1, amount
    selected = history.orders.select(
        (record.buyer_id, winner, record.category),
        moment - rules.split_window_days * DAY_NS,
        moment,
        own,
    )
    if selected is not None:
        amounts = history.orders.columns["amount"][selected]
        in_band = amounts[(amounts >= below) & (amounts < threshold)]
        count += len(in_band)
        total += float(in_band.sum())
    out["order_value_to_approval_threshold"] = amount / threshold
    out["split_purchase_count_30d"] = float(count)
    out["split_purchase_sum_to_threshold_30d"] = total / threshold
    out["split_purchase_over_threshold_30d"] = float(count >= 2 and total >= threshold)


def _concentration(
    record: ProcessRecord,
    history: ProcurementHistory,
    moment: int,
    own: int,
    winner: str | None,
    out: dict,
) -> None:
    """Buyer spend concentration; and, for a known winner, its share, relationship, age and
    win ratio."""
    year = moment - history.rules.relationship_window_days * DAY_NS
    spend = history.buyer_spend
    selected = spend.select(record.buyer_id, year, moment, own)
    totals = None
    if selected is not None:
        totals = np.bincount(
            spend.columns["supplier"][selected].astype(np.int64),
            weights=spend.columns["amount"][selected],
        )
        overall = float(totals.sum())
        out["buyer_spend_hhi_365d"] = (
            float(np.square(totals / overall).sum()) if overall > 0 else _NAN
        )
    else:
        out["buyer_spend_hhi_365d"] = _NAN
    if winner is None:
        return
    code = history.supplier_codes.get(winner, -1)
    share = 0.0
    if totals is not None and totals.sum() > 0:
        share = float(totals[code] / totals.sum()) if 0 <= code < len(totals) else 0.0
    out["winner_share_of_buyer_spend_365d"] = share if totals is not None else _NAN
    pair = history.pair_awards
    selected = pair.select((record.buyer_id, winner), year, moment, own)
    out["buyer_supplier_award_count_365d"] = (
        0.0 if selected is None else float(len(pair.times[selected]))
    )
    out["buyer_supplier_direct_award_count_365d"] = (
        0.0 if selected is None else float(pair.columns["direct"][selected].sum())
    )
    ever = pair.select((record.buyer_id, winner), None, moment, own)
    out["buyer_supplier_relationship_days"] = (
        _NAN if ever is None else (moment - int(pair.times[ever][0])) / DAY_NS
    )
    awards = history.supplier_awards.select(winner, None, moment, own)
    if awards is None:
        out["supplier_days_since_first_award"] = _NAN
        out["supplier_first_award"] = 1.0 if record.awarded else 0.0
    else:
        first = int(history.supplier_awards.times[awards][0])
        out["supplier_days_since_first_award"] = (moment - first) / DAY_NS
        out["supplier_first_award"] = 0.0
    bids = history.supplier_bids.select(winner, year, moment, own)
    if bids is None:
        out["supplier_win_ratio_365d"] = _NAN
        out["supplier_bid_count_365d"] = 0.0
    else:
        won = history.supplier_bids.columns["won"][bids]
        out["supplier_win_ratio_365d"] = float(won.mean())
        out["supplier_bid_count_365d"] = float(len(won))


def _rotation(
    record: ProcessRecord, history: ProcurementHistory, moment: int, own: int, out: dict
) -> None:
    """How this tender's bidders met before: shared tenders, who won them, and rotation."""
    bidders = record.bidders
    year = moment - history.rules.relationship_window_days * DAY_NS
    index = history.supplier_bids
    tenders: dict[str, set[int]] = {}
    for bidder in bidders:
        selected = index.select(bidder, year, moment, own)
        if selected is not None:
            tenders[bidder] = set(index.columns["tender"][selected].astype(np.int64).tolist())
    counts: dict[int, int] = {}
    for codes in tenders.values():
        for tender in codes:
            counts[tender] = counts.get(tender, 0) + 1
    shared = [tender for tender, count in counts.items() if count >= 2]
    out["bidder_group_shared_tenders_365d"] = float(len(shared))
    out["max_bidder_pair_cobids_365d"] = float(
        max((len(a & b) for a, b in combinations(tenders.values(), 2)), default=0)
    )
    if not shared:
        out["bidder_group_win_share_365d"] = _NAN
        out["bidder_group_rotation_index_365d"] = _NAN
        return
    group = {history.supplier_codes[b] for b in tenders}
    winners: set[int] = set()
    won_by_group = 0
    for tender in shared:
        inside = history.tender_winners[tender] & group
        if inside:
            won_by_group += 1
            winners |= inside
    out["bidder_group_win_share_365d"] = won_by_group / len(shared)
    out["bidder_group_rotation_index_365d"] = len(winners) / len(bidders)


def _related_bidders(record: ProcessRecord, history: ProcurementHistory, out: dict) -> None:
    """Pairs of this tender's bidders sharing each identifier kind (register fingerprints;
    telephones also from the contact points named in the process)."""
    bidders = record.bidders
    identifiers: list[dict[str, set[str]]] = []
    for bidder in bidders:
        register = history.suppliers.get(bidder)
        found: dict[str, set[str]] = {kind: set() for kind, _ in RELATED_KINDS}
        if register is not None:
            for kind, _ in RELATED_KINDS:
                value = getattr(register, kind)
                if value:
                    found[kind].add(value)
        phone = record.party_phones.get(bidder)
        if phone:
            found["phone"].add(phone)
        identifiers.append(found)
    related = False
    for kind, name in RELATED_KINDS:
        pairs = sum(1 for a, b in combinations(identifiers, 2) if a[kind] & b[kind])
        out[name] = float(pairs)
        related = related or pairs > 0
    out["any_related_bidders"] = float(related)


def _contract(record: ProcessRecord, moment: int, out: dict) -> None:
    """Amendments known at ``moment`` and the contract value they lead to. The store keeps
    only a contract's current value, so growth is known when every amendment is (1.0 with
    none: a value changes only by amendment); with only some known it is missing."""
    known = [date for date in record.contract_amendment_dates if date <= moment]
    out["contract_amendment_count"] = float(len(known))
    growth = _NAN
    if record.awarded and record.award_total > 0:
        if not record.contract_amendment_dates:
            growth = 1.0
        elif len(known) == len(record.contract_amendment_dates):
            values = [c.amount for c in record.contracts if not math.isnan(c.amount)]
            if values:
                growth = math.fsum(values) / record.award_total
    out["contract_value_growth"] = growth


def _deliveries(history: ProcurementHistory, moment: int, own: int, winner: str, out: dict) -> None:
    index = history.deliveries
    selected = index.select(
        winner, moment - history.rules.relationship_window_days * DAY_NS, moment, own
    )
    if selected is None:
        out["supplier_deliveries_365d"] = 0.0
        out["supplier_late_delivery_share_365d"] = _NAN
        out["supplier_mean_delivery_delay_days_365d"] = _NAN
        out["supplier_quality_rejections_365d"] = 0.0
        return
    delivered = index.columns["delivered"][selected]
    deliveries = float(delivered.sum())
    delays = index.columns["delay_days"][selected]
    delays = delays[~np.isnan(delays)]
    out["supplier_deliveries_365d"] = deliveries
    out["supplier_late_delivery_share_365d"] = (
        float(index.columns["late"][selected].sum()) / deliveries if deliveries else _NAN
    )
    out["supplier_mean_delivery_delay_days_365d"] = float(delays.mean()) if len(delays) else _NAN
    out["supplier_quality_rejections_365d"] = float(index.columns["rejected"][selected].sum())


# --------------------------------------------------------------------------------------------
# Public entry points


def process_features(
    history: ProcurementHistory,
    process: ProcessRecord | Mapping[str, Any],
    as_of: object = None,
    *,
    collusion: CollusionScorer | None = None,
) -> dict[str, Any]:
    """Identity columns and every feature of one process, as of ``as_of`` (default: its
    decision date): own facts from the process, others' only from strictly earlier history.
    ``collusion``: the detector behind ``collusion_score`` (None: the CV rule).

    ``process`` is a ``ProcessRecord`` or an OCDS compiled release (validated; raises
    ``ReleaseError``). A process without any date is computed against the whole history and
    gets a missing ``decision_date``.
    """
    record = (
        process if isinstance(process, ProcessRecord) else record_from_release(history, process)
    )
    moment = to_ns(as_of) if as_of is not None else record.decision_date
    before = _FAR_FUTURE if moment is None else moment
    own = history.ocid_code(record.ocid)
    out: dict[str, Any] = {
        "ocid": record.ocid,
        "decision_date": pd.NaT if moment is None else pd.Timestamp(moment),
        "buyer_id": record.buyer_id,
        "supplier_ids": list(record.winners),
        "category": record.category,
    }
    _process_basics(record, history, out)
    _red_flags(record, history, before, out)
    by_lot = record.priced_bids_by_lot()
    _bid_screens(record, by_lot, out)
    _collusion(record, history, by_lot, before, own, out, collusion)
    _price(record, history, before, own, out)
    winner = record.main_winner
    known_winner = winner if winner is not None and history.supplier_known(winner) else None
    _concentration(record, history, before, own, known_winner, out)
    if known_winner is not None:
        amount = record.supplier_award_totals().get(known_winner, _NAN)
        _split_purchases(record, history, before, own, known_winner, amount, out)
        _deliveries(history, before, own, known_winner, out)
    else:
        for name in WINNER_HISTORY_FEATURES:
            out[name] = _NAN
    _rotation(record, history, before, own, out)
    _related_bidders(record, history, out)
    _contract(record, before, out)
    out.update(history.reports.row(record.ocid, out["supplier_ids"], moment))
    return out


def feature_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows of ``process_features`` as a frame: identity columns, then ``FEATURES`` in order;
    numeric features float64, ``decision_date`` datetime64[ns], text columns pandas' default
    string type (missing as NaN), ``supplier_ids`` lists. Built column by column, without
    pandas' per-row inference, so that a one-row frame stays cheap."""
    data: dict[str, Any] = {}
    for name in OUTPUT_COLUMNS:
        values = [row[name] for row in rows]
        if name in _NUMERIC:
            data[name] = np.array(values, dtype=np.float64)
        elif name == "decision_date":
            data[name] = pd.DatetimeIndex(values).as_unit("ns").to_numpy()
        else:
            column = np.empty(len(values), dtype=object)
            column[:] = values
            data[name] = column
    return pd.DataFrame(data, columns=OUTPUT_COLUMNS, copy=False)


def build_process_features(
    history: ProcurementHistory,
    *,
    ocids: Iterable[str] | None = None,
    collusion: CollusionScorer | None = None,
) -> pd.DataFrame:
    """One row per stored process (or per ``ocids``, in that order), each as of its decision
    date; the history must keep its records (``keep_records=True``, the default)."""
    if history.records is None:
        raise RuntimeError("build_process_features needs a history built with keep_records=True")
    records = history.records if ocids is None else [history.record(ocid) for ocid in ocids]
    frames = [
        feature_frame(
            [
                process_features(history, record, collusion=collusion)
                for record in records[k : k + _CHUNK]
            ]
        )
        for k in range(0, len(records), _CHUNK)
    ]
    if len(frames) == 1:
        return frames[0]
    if not frames:
        return feature_frame([])
    return pd.concat(frames, ignore_index=True)


def build_store_features(
    store: StoreReader,
    *,
    settings: Settings | None = None,
    collusion: CollusionScorer | None = None,
    processes_per_chunk: int = PROCESSES_PER_CHUNK,
) -> pd.DataFrame:
    """``build_process_features(ProcurementHistory.from_store(store, settings=settings))``
    (the same rows, values and order) with at most two chunks of records in memory: the
    history is built chunk by chunk without keeping records
    (``ProcurementHistory.streamed_from_store``), then each chunk but the last is read again
    and its rows built; the last chunk's records are kept from the first pass (a store of one
    chunk is read once). Memory: the history's event indices, the frame and two chunks of
    records, whatever the store's size."""
    ranges = ocid_ranges(store, processes_per_chunk)
    kept: list[list[ProcessRecord]] = []

    def first_pass() -> Iterator[list[ProcessRecord]]:
        for position, (first, last) in enumerate(ranges):
            records = records_from_frames(load_range_frames(store, first, last), digests=False)
            if position == len(ranges) - 1:
                kept.append(records)
            yield records

    def second_pass() -> Iterator[list[ProcessRecord]]:
        for first, last in ranges[:-1]:
            yield records_from_frames(load_range_frames(store, first, last), digests=False)
        yield from kept

    history = ProcurementHistory.streamed_from_store(store, settings=settings, chunks=first_pass())
    frames = [
        feature_frame(
            [
                process_features(history, record, collusion=collusion)
                for record in records[k : k + _CHUNK]
            ]
        )
        for records in second_pass()
        for k in range(0, len(records), _CHUNK)
    ]
    kept.clear()
    if not frames:
        return feature_frame([])
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def features_for_release(
    history: ProcurementHistory, release: object, *, collusion: CollusionScorer | None = None
) -> pd.DataFrame:
    """One row for one incoming OCDS compiled release, as of its decision date (raises
    ``ReleaseError`` with the location of the problem for invalid input)."""
    if not isinstance(release, dict):
        validate_release(release)
    record = record_from_release(history, release)
    return feature_frame([process_features(history, record, collusion=collusion)])


def bench_procurement_features(history: ProcurementHistory, release: dict) -> dict[str, float]:
    """Seconds for the batch build over the history's records and milliseconds per online
    release (median of 200 calls)."""
    started = time.perf_counter()
    frame = build_process_features(history)
    batch_seconds = time.perf_counter() - started
    timings = []
    for _ in range(200):
        started = time.perf_counter()
        features_for_release(history, release)
        timings.append(time.perf_counter() - started)
    return {
        "processes": float(len(frame)),
        "batch_seconds": batch_seconds,
        "online_ms_median": 1000 * float(np.median(timings)),
        "online_ms_p99": 1000 * float(np.quantile(timings, 0.99)),
    }
