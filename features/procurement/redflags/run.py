"""Running the indicators: the per-process ``fold`` of each, the dataset's reduce and
finalize (cardinal-rs ``src/lib.rs`` ``Indicators::run``), and the per-process form."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from features.procurement.redflags import (
    r003_short_submission_period as r003,
)
from features.procurement.redflags import (
    r018_single_bid as r018,
)
from features.procurement.redflags import (
    r024_price_close_to_winning_bid as r024,
)
from features.procurement.redflags import (
    r025_excessive_unsuccessful_bids as r025,
)
from features.procurement.redflags import (
    r028_identical_bid_prices as r028,
)
from features.procurement.redflags import (
    r030_late_bid_won as r030,
)
from features.procurement.redflags import (
    r035_all_except_winner_disqualified as r035,
)
from features.procurement.redflags import (
    r036_lowest_bid_disqualified as r036,
)
from features.procurement.redflags import (
    r038_excessive_disqualified_bids as r038,
)
from features.procurement.redflags import (
    r048_heterogeneous_supplier as r048,
)
from features.procurement.redflags import (
    r058_heavily_discounted_bid as r058,
)
from features.procurement.redflags.flag import GROUPS, ORGANISATION_CODES, RedFlag
from features.procurement.redflags.settings import CardinalSettings
from features.procurement.redflags.util import (
    Currency,
    Process,
    SecondLowest,
    as_list,
    get,
    is_cancelled_contracting_process,
    matches_procurement_method_details,
    pipe_set,
    round4,
    second_lowest_bid_ratio,
    second_lowest_values,
    set_result,
)

log = logging.getLogger(__name__)


class Evaluator:
    """The per-process (``fold``) part of every enabled indicator, in Cardinal's order."""

    def __init__(self, settings: CardinalSettings, currency: Currency) -> None:
        self.settings = settings
        self.currency = currency
        self.exclude_details = pipe_set(settings.exclusions_procurement_method_details)
        self.no_price = pipe_set(settings.no_price_comparison_procurement_methods)
        self.price = pipe_set(settings.price_comparison_procurement_methods)
        if self.no_price and self.price:
            log.warning(
                "no_price_comparison_procurement_methods has no effect if "
                "price_comparison_procurement_methods is set."
            )
        self.second_lowest_enabled = settings.r024 is not None or settings.r058 is not None
        r003_settings = settings.r003
        self.r003_methods = (
            pipe_set(r003_settings.procurement_methods) if r003_settings else frozenset()
        )
        r018_settings = settings.r018
        self.r018_methods = (
            pipe_set(r018_settings.procurement_methods, "open|selective")
            if r018_settings
            else frozenset()
        )
        r035_settings = settings.r035
        self.r035_threshold = max(r035_settings.threshold, 1) if r035_settings else 1

    def included(self, release: Any) -> str | None:
        """lib.rs ``Indicators::run``: the ocid if the process is not excluded."""
        if not isinstance(release, dict):
            return None
        ocid = release.get("ocid")
        if not isinstance(ocid, str):
            return None
        if is_cancelled_contracting_process(release):
            return None
        if not matches_procurement_method_details(release, frozenset(), self.exclude_details):
            return None
        return ocid

    def price_comparison(self, release: Mapping[str, Any]) -> bool:
        return matches_procurement_method_details(release, self.price, self.no_price)

    def evaluate(self, release: dict[str, Any], ocid: str) -> Process:
        process = Process(ocid)
        s = self.settings
        if self.second_lowest_enabled:
            second_lowest_bid_ratio(self, release, process)
        if s.r003 is not None:
            r003.fold(self, release, process, s.r003)
        if s.r018 is not None:
            r018.fold(self, release, process)
        if s.r025 is not None:
            r025.fold(self, release, process)
        if s.r028 is not None:
            r028.fold(self, release, process)
        if s.r030 is not None:
            r030.fold(self, release, process)
        if s.r035 is not None:
            r035.fold(self, release, process)
        if s.r036 is not None:
            r036.fold(self, release, process)
        if s.r038 is not None:
            r038.fold(self, release, process)
        if s.r048 is not None:
            r048.fold(self, release, process, s.r048.digits)
        return process


# --------------------------------------------------------------------------------------------
# Dataset context (the reduce and finalize steps)
# --------------------------------------------------------------------------------------------


@dataclass
class CardinalContext:
    """The dataset-level state of one run: results, fences and per-organisation figures.

    ``results`` is Cardinal's output (without ``Meta``); ``meta`` its ``Meta`` key (unrounded);
    ``currency`` the main currency the run settled on.
    """

    settings: CardinalSettings
    results: dict[str, dict[str, dict[str, float]]]
    meta: dict[str, dict[str, float]]
    currency: str | None
    second_lowest: dict[str, SecondLowest]
    r024_lower_fence: float | None = None
    r024_q1: float | None = None
    r058_upper_fence: float | None = None
    organisation_values: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)

    def output(self, *, include_meta: bool = False) -> dict[str, Any]:
        """Cardinal's JSON output (``include_meta``: add the ``Meta`` key, rounded to 4
        decimals, as without ``--no-meta``)."""
        out: dict[str, Any] = {
            group: {key: dict(values) for key, values in self.results[group].items()}
            for group in GROUPS
            if self.results.get(group)
        }
        if include_meta:
            out["Meta"] = {
                code: {key: round4(value) for key, value in values.items()}
                for code, values in self.meta.items()
            }
        return out


def build_context(
    releases: Iterable[Any], settings: CardinalSettings | None = None
) -> CardinalContext:
    """Run Cardinal's ``indicators`` over ``releases`` (OCDS compiled releases, one per
    contracting process) and keep the dataset-level state."""
    settings = settings if settings is not None else CardinalSettings()
    currency = Currency(settings.currency)
    evaluator = Evaluator(settings, currency)
    results: dict[str, dict[str, dict[str, float]]] = {}
    meta: dict[str, dict[str, float]] = {}
    second_lowest: dict[str, SecondLowest] = {}
    r025_fractions: dict[str, list[int]] = {}
    r038_fractions: dict[str, dict[str, list[int]]] = {
        "Buyer": {},
        "ProcuringEntity": {},
        "Tenderer": {},
    }
    r048_classifications: dict[str, tuple[list[int], set[str]]] = {}

    for release in releases:
        ocid = evaluator.included(release)
        if ocid is None:
            continue
        process = evaluator.evaluate(release, ocid)
        for flag in process.flags:
            set_result(results, flag.group, flag.subject, flag.code, flag.value)
        if process.second_lowest is not None:
            second_lowest[ocid] = process.second_lowest
        r025.reduce(r025_fractions, process)
        r038.reduce(r038_fractions, process)
        r048.reduce(r048_classifications, process)

    context = CardinalContext(settings, results, meta, currency.value, second_lowest)
    if settings.r024 is not None:
        r024.finalize(context, settings.r024)
    if settings.r025 is not None:
        r025.finalize(context, settings.r025, r025_fractions)
    if settings.r038 is not None:
        r038.finalize(context, settings.r038, r038_fractions)
    if settings.r048 is not None:
        r048.finalize(context, settings.r048, r048_classifications)
    if settings.r058 is not None:
        r058.finalize(context, settings.r058)
    return context


def compute_indicators(
    releases: Iterable[Any],
    settings: CardinalSettings | None = None,
    *,
    include_meta: bool = False,
) -> dict[str, Any]:
    """Cardinal's ``indicators`` output for OCDS compiled releases.

    ``{"OCID": {ocid: {code: value}}, "Buyer": {...}, "ProcuringEntity": {...},
    "Tenderer": {...}}``, with empty groups left out; ``include_meta`` adds ``"Meta"`` (the
    quartiles and fences, rounded to 4 decimals), which Cardinal's CLI prints unless
    ``--no-meta``. ``settings`` defaults to all indicators with Cardinal's defaults.
    """
    return build_context(releases, settings).output(include_meta=include_meta)


# --------------------------------------------------------------------------------------------
# Per-process form
# --------------------------------------------------------------------------------------------


def flags_for_process(
    release: Mapping[str, Any],
    settings: CardinalSettings | None = None,
    context: CardinalContext | None = None,
) -> list[RedFlag]:
    """The red flags of one contracting process, with their values and descriptions.

    With ``context`` (``build_context`` over the dataset the process belongs to), the result
    agrees with ``compute_indicators``: the process's own flags (group ``OCID``), the flags
    Cardinal gives its tenderers because of this process (R024, R028, R030, R035, R058), and
    the dataset-level flags (R025, R038, R048) of the organisations in it (its buyer,
    procuring entity, tenderers and suppliers). ``context.currency`` is used as the main
    currency.

    Without ``context``, only what one process can decide is returned: R003, R018, R028, R030,
    R035, R036, and R024/R058 if their ``threshold`` is fixed in ``settings``; the main
    currency is ``settings.currency`` or the first one observed in this process.
    """
    if settings is None:
        settings = context.settings if context is not None else CardinalSettings()
    currency = Currency(settings.currency, context.currency if context is not None else None)
    evaluator = Evaluator(settings, currency)
    ocid = evaluator.included(release)
    if ocid is None:
        return []
    assert isinstance(release, dict)
    process = evaluator.evaluate(release, ocid)
    flags = list(process.flags)

    entry = process.second_lowest
    if entry is not None:
        if settings.r024 is not None:
            if context is not None and context.r024_lower_fence is not None:
                lower_fence, q1 = context.r024_lower_fence, context.r024_q1 or 0.0
            elif settings.r024.threshold is not None:
                lower_fence, q1 = settings.r024.threshold, 1.0
            else:
                lower_fence, q1 = math.nan, math.nan
            if r024.fires(entry.ratio, q1, lower_fence):
                values = {**second_lowest_values(entry), "lower_fence": lower_fence}
                flags.append(RedFlag("R024", "OCID", ocid, entry.ratio, values))
                for tenderer_id in (entry.winner, entry.lowest_non_winner):
                    flags.append(
                        RedFlag("R024", "Tenderer", tenderer_id, 0.0, {"ocid": ocid, **values})
                    )
        if settings.r058 is not None:
            if context is not None and context.r058_upper_fence is not None:
                upper_fence = context.r058_upper_fence
            elif settings.r058.threshold is not None:
                upper_fence = settings.r058.threshold
            else:
                upper_fence = math.nan
            if r058.fires(entry.ratio, upper_fence):
                values = {**second_lowest_values(entry), "upper_fence": upper_fence}
                flags.append(RedFlag("R058", "OCID", ocid, entry.ratio, values))
                flags.append(
                    RedFlag("R058", "Tenderer", entry.winner, 0.0, {"ocid": ocid, **values})
                )

    if context is not None:
        flags.extend(_organisation_flags(release, context))
    return flags


def _organisation_flags(release: Mapping[str, Any], context: CardinalContext) -> list[RedFlag]:
    """Dataset-level flags (R025, R038, R048) of the organisations taking part in a process."""
    organisations: dict[str, set[str]] = {
        "Buyer": set(),
        "ProcuringEntity": set(),
        "Tenderer": set(),
    }
    buyer_id = get(release.get("buyer"), "id")
    if isinstance(buyer_id, str):
        organisations["Buyer"].add(buyer_id)
    entity_id = get(get(release.get("tender"), "procuringEntity"), "id")
    if isinstance(entity_id, str):
        organisations["ProcuringEntity"].add(entity_id)
    for bid in as_list(get(release.get("bids"), "details")) or ():
        for tenderer in as_list(get(bid, "tenderers")) or ():
            tenderer_id = get(tenderer, "id")
            if isinstance(tenderer_id, str):
                organisations["Tenderer"].add(tenderer_id)
    for award in as_list(release.get("awards")) or ():
        for supplier in as_list(get(award, "suppliers")) or ():
            supplier_id = get(supplier, "id")
            if isinstance(supplier_id, str):
                organisations["Tenderer"].add(supplier_id)

    flags = []
    for group, ids in organisations.items():
        group_results = context.results.get(group, {})
        for org_id in sorted(ids):
            for code, value in group_results.get(org_id, {}).items():
                if code in ORGANISATION_CODES:
                    values = context.organisation_values.get((code, group, org_id), {})
                    flags.append(RedFlag(code, group, org_id, value, values))
    return flags
