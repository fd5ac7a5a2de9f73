"""Helpers shared by the indicators (cardinal-rs ``src/lib.rs`` ``impl Indicators``,
``src/indicators/util.rs``, ``src/indicators/mod.rs``) and Rust float semantics."""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from features.procurement.redflags.flag import RedFlag

if TYPE_CHECKING:
    from features.procurement.redflags.run import Evaluator

log = logging.getLogger(__name__)


def pipe_set(value: str | None, default: str = "") -> frozenset[str]:
    """lib.rs ``parse_pipe_separated_value``: ``split_terminator('|')``."""
    parts = (default if value is None else value).split("|")
    if parts and parts[-1] == "":
        parts.pop()
    return frozenset(parts)


def is_number(value: Any) -> TypeGuard[int | float]:
    """A JSON number (``serde_json::Value::Number``): not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def as_dict_or_none(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def as_list(value: Any) -> list[Any] | None:
    return value if isinstance(value, list) else None


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else None


def is_cancelled_contracting_process(release: Mapping[str, Any]) -> bool:
    """lib.rs ``Indicators::is_cancelled_contracting_process``."""
    return get(release.get("tender"), "status") == "cancelled"


def matches_procurement_method(tender: Mapping[str, Any], allowed: frozenset[str]) -> bool:
    """lib.rs ``Indicators::matches_procurement_method``: an empty set matches all."""
    if not allowed:
        return True
    method = tender.get("procurementMethod")
    return isinstance(method, str) and method in allowed


def matches_procurement_method_details(
    release: Mapping[str, Any], include: frozenset[str], exclude: frozenset[str]
) -> bool:
    """lib.rs ``Indicators::matches_procurement_method_details``.

    A deny list works even if empty; an allow list only if non-empty. If the field is not
    set, the process matches only when no allow list is given.
    """
    details = get(release.get("tender"), "procurementMethodDetails")
    if isinstance(details, str):
        return details not in exclude if not include else details in include
    return not include


def get_complete_awards_and_bids_if_all_awards_final(
    release: Mapping[str, Any],
) -> tuple[list[dict[str, Any]], list[Any]] | None:
    """lib.rs ``Indicators::get_complete_awards_and_bids_if_all_awards_final``.

    ``None`` unless ``awards`` and ``bids/details`` are arrays and every award with a string
    status is final: ``active`` awards are returned, ``cancelled`` and ``unsuccessful`` are
    skipped, any other status (``pending``, ``invalid``) excludes the process.
    """
    awards = as_list(release.get("awards"))
    details = as_list(get(release.get("bids"), "details"))
    if awards is None or details is None:
        return None
    complete = []
    for award in awards:
        status = get(award, "status")
        if isinstance(status, str):
            if status == "active":
                complete.append(award)
            elif status not in ("cancelled", "unsuccessful"):
                return None
    return complete, details


def get_submitted_bids(release: Mapping[str, Any]) -> list[dict[str, Any]]:
    """lib.rs ``Indicators::get_submitted_bids``: bids with a string status other than
    ``invited`` or ``withdrawn`` (that is pending, valid, disqualified)."""
    details = as_list(get(release.get("bids"), "details"))
    if details is None:
        return []
    return [
        bid
        for bid in details
        if isinstance(bid, dict)
        and isinstance(bid.get("status"), str)
        and bid["status"] not in ("invited", "withdrawn")
    ]


def get_tenderer_and_value_of_valid_bids(details: list[Any]) -> list[tuple[str, float, str]]:
    """lib.rs ``Indicators::get_tenderer_and_value_of_valid_bids``: valid bids with a numeric
    amount, a currency and exactly one tenderer with a string id."""
    tuples = []
    for bid in details:
        if not isinstance(bid, dict) or bid.get("status") != "valid":
            continue
        value = as_dict_or_none(bid.get("value"))
        tenderers = as_list(bid.get("tenderers"))
        if value is None or tenderers is None or len(tenderers) != 1:
            continue
        amount = value.get("amount")
        currency = value.get("currency")
        tenderer_id = get(tenderers[0], "id")
        if is_number(amount) and isinstance(currency, str) and isinstance(tenderer_id, str):
            tuples.append((tenderer_id, float(amount), currency))
    return tuples


class Currency:
    """``Indicators.currency``: the main currency, shared by SecondLowestBidRatio and R036.

    Set on first use to the ``currency`` setting or, if unset, to the first observed currency
    (``item.currency.get_or_insert_with(...)`` in util.rs and r036.rs).
    """

    __slots__ = ("configured", "value")

    def __init__(self, configured: str | None, value: str | None = None) -> None:
        self.configured = configured
        self.value = value

    def accepts(self, currency: str) -> bool:
        if self.value is None:
            self.value = self.configured if self.configured is not None else currency
        if currency != self.value:
            log.debug("%s is not %s, skipping.", currency, self.value)
            return False
        return True


# --------------------------------------------------------------------------------------------
# Statistics (statrs Data: R-8 quantiles) and Rust float semantics
# --------------------------------------------------------------------------------------------


def quantile(data: list[float], tau: float) -> float:
    """statrs ``OrderStatistics::quantile`` for ``Data`` (slice_statistics.rs).

    Quantile estimator R-8 (median-unbiased): ``h = (n + 1/3)·tau + 1/3``. NaN if the data is
    empty, ``tau`` is outside [0, 1] or (see module docstring) the data contains NaN.
    """
    n = len(data)
    if not 0.0 <= tau <= 1.0 or n == 0 or any(math.isnan(x) for x in data):
        return math.nan
    ordered = sorted(data)
    h = (n + 1.0 / 3.0) * tau + 1.0 / 3.0
    hf = int(h)
    if hf <= 0 or tau == 0.0:
        return ordered[0]
    if hf >= n or math.isclose(tau, 1.0, rel_tol=0.0, abs_tol=4 * 2.220446049250313e-16):
        return ordered[-1]
    a = ordered[hf - 1]
    b = ordered[hf]
    return a + (h - hf) * (b - a)


def mul_add(a: float, b: float, c: float) -> float:
    """Rust ``f64::mul_add``: ``a * b + c`` with one rounding (exact rationals)."""
    if math.isfinite(a) and math.isfinite(b) and math.isfinite(c):
        return float(Fraction(a) * Fraction(b) + Fraction(c))
    return a * b + c


def divide(numerator: float, denominator: float) -> float:
    """IEEE 754 division, as f64 in Rust (no ZeroDivisionError)."""
    if denominator == 0.0:
        if numerator == 0.0 or math.isnan(numerator):
            return math.nan
        negative = (numerator < 0) != (math.copysign(1.0, denominator) < 0)
        return -math.inf if negative else math.inf
    return numerator / denominator


def round4(value: float) -> float | None:
    """mod.rs ``round``: ``(v * 10_000.0).round() / 10_000.0``; half away from zero. NaN is
    serialised as ``null`` by serde_json."""
    if math.isnan(value):
        return None
    if math.isinf(value):
        return value
    scaled = abs(value * 10_000.0)
    whole = math.floor(scaled)
    if scaled - whole >= 0.5:
        whole += 1
    return math.copysign(whole, value) / 10_000.0


@dataclass
class SecondLowest:
    """What util.rs ``SecondLowestBidRatio::fold`` records for one process."""

    ratio: float
    winner: str
    lowest_non_winner: str
    winner_amount: float
    lowest_non_winner_amount: float
    currency: str


@dataclass
class Process:
    """Everything one contracting process contributes (the ``fold`` step of each indicator)."""

    ocid: str
    flags: list[RedFlag] = field(default_factory=list)
    second_lowest: SecondLowest | None = None
    # R025: tenderer id -> won (each valid tenderer counted once per process).
    r025: dict[str, bool] = field(default_factory=dict)
    # R038: (tenderer id, disqualified 0/1) per tenderer reference on each submitted bid.
    r038_tenderers: list[tuple[str, int]] = field(default_factory=list)
    r038_buyer: str | None = None
    r038_procuring_entity: str | None = None
    r038_disqualified: int = 0
    r038_submitted: int = 0
    # R048: supplier id -> first-level classification codes.
    r048: dict[str, set[str]] = field(default_factory=dict)


def set_result(
    results: dict[str, dict[str, dict[str, float]]], group: str, key: str, code: str, value: float
) -> None:
    results.setdefault(group, {}).setdefault(key, {})[code] = value


def second_lowest_values(entry: SecondLowest) -> dict[str, Any]:
    return {
        "difference": entry.ratio,
        "winner": entry.winner,
        "second_lowest_bidder": entry.lowest_non_winner,
        "winning_amount": entry.winner_amount,
        "second_lowest_amount": entry.lowest_non_winner_amount,
        "currency": entry.currency,
    }


# util.rs SecondLowestBidRatio::fold
def second_lowest_bid_ratio(
    evaluator: Evaluator, release: dict[str, Any], process: Process
) -> None:
    """The winning bid and the lowest valid bid of another tenderer, in the main currency.

    Only if every award is final, there is exactly one active award with exactly one
    supplier (string id), and the lowest non-winning bid is not lower than the winner's
    (price-only award). Ratio = (second - winner) / winner.
    """
    if not evaluator.price_comparison(release):
        return
    found = get_complete_awards_and_bids_if_all_awards_final(release)
    if found is None:
        return
    complete_awards, details = found
    if len(complete_awards) != 1:
        return
    suppliers = as_list(complete_awards[0].get("suppliers"))
    if suppliers is None or len(suppliers) != 1:
        return
    supplier_id = get(suppliers[0], "id")
    if not isinstance(supplier_id, str):
        return
    winner: str | None = None
    winner_amount: float | None = None
    other: str | None = None
    other_amount: float | None = None
    currency_seen = ""
    for tenderer_id, amount, currency in get_tenderer_and_value_of_valid_bids(details):
        if not evaluator.currency.accepts(currency):
            continue
        currency_seen = currency
        if supplier_id == tenderer_id:
            # If the winner submitted multiple bids, take the lowest bid.
            if winner_amount is None or amount < winner_amount:
                winner, winner_amount = tenderer_id, amount
        elif other_amount is None or amount < other_amount:
            other, other_amount = tenderer_id, amount
    if (
        winner is not None
        and winner_amount is not None
        and other is not None
        and other_amount is not None
        and other_amount >= winner_amount
    ):
        process.second_lowest = SecondLowest(
            ratio=divide(other_amount - winner_amount, winner_amount),
            winner=winner,
            lowest_non_winner=other,
            winner_amount=winner_amount,
            lowest_non_winner_amount=other_amount,
            currency=currency_seen,
        )


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[Any]:
    """Lines of a JSON Lines file (``.gz`` too), as Cardinal reads them: blank lines are
    skipped silently, invalid JSON lines with a warning."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as error:
                log.warning("Line %d is invalid JSON, skipping. [%s]", number, error)
