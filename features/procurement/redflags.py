"""Cardinal red-flag indicators over OCDS compiled releases, ported to Python.

A faithful port of the ``indicators`` command of the Open Contracting Partnership's Cardinal
(open-contracting/cardinal-rs; Rust): same definitions, settings, defaults, exclusions and
output structure, so that its conformance fixtures (``tests/fixtures/indicators``) give the
same results. Indicators: R003 short submission period, R018 single bid, R024 price close to
winning bid, R025 excessive unsuccessful bids, R028 identical bid prices, R030 late bid won,
R035 all except winning bid disqualified, R036 lowest bid disqualified, R038 excessive
disqualified bids, R048 heterogeneous supplier, R058 heavily discounted bid.

Attribution: based on Cardinal, Copyright (c) Open Contracting Partnership, MIT License
(``../shared/data/procurement/cardinal_fixtures/LICENSE-cardinal-rs-MIT.txt``).

Public API:

* ``CardinalSettings`` (``from_ini`` reads a Cardinal settings file or its text);
* ``compute_indicators(releases, settings)`` returns Cardinal's output, e.g.
  ``{"OCID": {ocid: {"R024": 0.01}}, "Buyer": {id: {"R038": 0.5}}, "Tenderer": {...}}``
  (``include_meta=True`` adds Cardinal's ``"Meta"`` key of quartiles and fences);
* ``build_context(releases, settings)`` runs the dataset once and keeps what the per-process
  form needs (fences, organisation-level results, the main currency);
* ``flags_for_process(release, settings, context)`` returns the ``RedFlag`` list of one
  contracting process, each with its code, English and Chinese description and values.

Where Cardinal is followed (paths are in cardinal-rs):

* ``src/lib.rs`` ``Indicators::run``: a line is skipped unless it is an object with a string
  ``ocid``, ``/tender/status`` is not ``cancelled`` and ``/tender/procurementMethodDetails``
  is not in ``[exclusions] procurement_method_details``; indicators run only if their section
  is in the settings file; results are set per group (``OCID``, ``Buyer``,
  ``ProcuringEntity``, ``Tenderer``) and empty groups are dropped.
* ``src/indicators/mod.rs``: settings structures, the ``set_result``/``set_meta`` macros and
  ``Fraction`` (a mediant: numerators and denominators are summed across processes).
* ``src/indicators/util.rs`` ``SecondLowestBidRatio``: the winner/second-lowest ratio used by
  R024 and R058; ``src/indicators/r0NN.rs`` each indicator.
* Quartiles are ``statrs`` ``Data::lower_quartile``/``upper_quartile``/``percentile``
  (``src/statistics/slice_statistics.rs``: quantile estimator R-8,
  ``h = (n + 1/3)·tau + 1/3``); the fences use ``f64::mul_add`` (a fused multiply-add,
  reproduced exactly here with rationals).

Interpretations (where Cardinal is not deterministic, or Python differs from Rust):

* Currency: with no ``currency`` setting, Cardinal takes "the first observed currency"; its
  fixtures run single-threaded, so this is the first currency met in input order, by
  ``SecondLowestBidRatio`` (R024/R058) and then R036, sharing one value, as in Cardinal.
* Quartiles of data containing NaN (a 0/0 ratio, when the winning and second-lowest bids are
  both 0) depend on Rust's hash-map order in Cardinal; here any NaN makes the quartile NaN, so
  the fence is NaN and nothing is flagged by it.
* Dates (R003) are parsed as RFC 3339 like chrono's ``DateTime::parse_from_rfc3339`` (an
  offset is required); whole days are truncated toward zero, like ``TimeDelta::num_days``.
* R030 compares ``/bids/details[]/date`` and ``/tender/tenderPeriod/endDate`` as strings, as
  Cardinal does.
* R044 and R055 and the ``prepare`` command are not ported; their sections are accepted in a
  settings file and ignored. ``--map`` (the ``Maps`` key) is not ported.
"""

from __future__ import annotations

import configparser
import gzip
import json
import logging
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeGuard

log = logging.getLogger(__name__)

__all__ = [
    "CODES",
    "DESCRIPTIONS",
    "TITLES",
    "CardinalContext",
    "CardinalSettings",
    "R003Settings",
    "R018Settings",
    "R024Settings",
    "R025Settings",
    "R028Settings",
    "R030Settings",
    "R035Settings",
    "R036Settings",
    "R038Settings",
    "R048Settings",
    "R058Settings",
    "RedFlag",
    "build_context",
    "compute_indicators",
    "flags_for_process",
    "iter_jsonl",
]

CODES: tuple[str, ...] = (
    "R003",
    "R018",
    "R024",
    "R025",
    "R028",
    "R030",
    "R035",
    "R036",
    "R038",
    "R048",
    "R058",
)

#: Short titles, from Cardinal's ``docs/cli/indicators/index.md``, with a Chinese rendering.
TITLES: Mapping[str, Mapping[str, str]] = {
    "R003": {"en": "Short submission period", "zh": "投标期过短"},
    "R018": {"en": "Single bid received", "zh": "仅收到一份投标"},
    "R024": {"en": "Price close to winning bid", "zh": "报价与中标价过于接近"},
    "R025": {"en": "Excessive unsuccessful bids", "zh": "未中标投标过多"},
    "R028": {"en": "Identical bid prices", "zh": "投标报价相同"},
    "R030": {"en": "Late bid won", "zh": "逾期投标中标"},
    "R035": {"en": "All except winning bid disqualified", "zh": "除中标人外投标均被否决"},
    "R036": {"en": "Lowest bid disqualified", "zh": "最低价投标被否决"},
    "R038": {"en": "Excessive disqualified bids", "zh": "被否决投标过多"},
    "R048": {"en": "Heterogeneous supplier", "zh": "供应商经营品类异常庞杂"},
    "R058": {"en": "Heavily discounted bid", "zh": "中标价大幅低于其他报价"},
}

#: One-sentence descriptions, from Cardinal's ``docs/cli/indicators/index.md``, in English and
#: Chinese. The API shows these next to each flag.
DESCRIPTIONS: Mapping[str, Mapping[str, str]] = {
    "R003": {
        "en": "The submission period is too short.",
        "zh": "投标（提交）期过短。",
    },
    "R018": {
        "en": "Only one tenderer submitted a bid in a competitive procedure.",
        "zh": "竞争性采购程序中只有一家投标人提交了投标。",
    },
    "R024": {
        "en": (
            "The percentage difference between the winning bid and the second-lowest valid "
            "bid is a low outlier."
        ),
        "zh": "中标价与次低有效报价之间的差价百分比异常偏低（低端离群值）。",
    },
    "R025": {
        "en": "The ratio of winning bids to submitted bids for a top tenderer is a low outlier.",
        "zh": "投标次数居前的投标人，其中标次数与有效投标次数之比异常偏低（低端离群值）。",
    },
    "R028": {
        "en": "Different tenderers submitted bids with the same price.",
        "zh": "不同投标人提交了价格完全相同的投标。",
    },
    "R030": {
        "en": "The winning bid was received after the submission deadline.",
        "zh": "中标投标是在投标截止时间之后收到的。",
    },
    "R035": {
        "en": "Bids are disqualified if not submitted by the single tenderer of the winning bid.",
        "zh": "除唯一中标投标人之外，其他投标人的投标均被否决。",
    },
    "R036": {
        "en": "The lowest submitted bid is disqualified, while the award criterion is price only.",
        "zh": "在仅以价格为评标标准时，报价最低的投标被否决。",
    },
    "R038": {
        "en": (
            "The ratio of disqualified bids to submitted bids is a high outlier per buyer, "
            "procuring entity or tenderer."
        ),
        "zh": (
            "按采购人、采购实施机构或投标人统计，"
            "被否决投标占已提交投标的比例异常偏高（高端离群值）。"
        ),
    },
    "R048": {
        "en": "The variety of items supplied by a tenderer is a high outlier.",
        "zh": "某投标人供应的物品品类数量异常偏多（高端离群值）。",
    },
    "R058": {
        "en": (
            "The percentage difference between the winning bid and the second-lowest valid "
            "bid is a high outlier."
        ),
        "zh": "中标价与次低有效报价之间的差价百分比异常偏高（高端离群值），中标价大幅偏低。",
    },
}

GROUPS: tuple[str, ...] = ("OCID", "Buyer", "ProcuringEntity", "Tenderer")

# Indicators whose results are about organisations across the whole dataset.
_ORGANISATION_CODES = frozenset({"R025", "R038", "R048"})


# --------------------------------------------------------------------------------------------
# Settings (cardinal-rs src/indicators/mod.rs ``Settings``; defaults from each r0NN.rs ``new``)
# --------------------------------------------------------------------------------------------


@dataclass
class R003Settings:
    """``[R003]`` (r003.rs ``R003::new``): ``threshold`` in whole days, default 15.

    ``procurement_methods``: pipe-separated ``/tender/procurementMethod`` values to which the
    indicator is restricted (unset: all). ``procurement_method_details``: a threshold per
    ``/tender/procurementMethodDetails`` value (the ``[R003.procurement_method_details]``
    section of a settings file).
    """

    threshold: int = 15
    procurement_methods: str | None = None
    procurement_method_details: dict[str, int] = field(default_factory=dict)


@dataclass
class R018Settings:
    """``[R018]`` (r018.rs ``R018::new``): competitive methods, default ``open|selective``."""

    procurement_methods: str | None = None


@dataclass
class R024Settings:
    """``[R024]`` (r024.rs): a fixed lower fence; unset: Q1 - 1.5 IQR of the ratios."""

    threshold: float | None = None


@dataclass
class R025Settings:
    """``[R025]`` (r025.rs ``R025::new``): ``percentile`` of valid-bid counts (default 75)
    for a top tenderer; ``threshold``: a fixed lower fence (unset: Q1 - 1.5 IQR)."""

    percentile: int = 75
    threshold: float | None = None


@dataclass
class R028Settings:
    """``[R028]``: not configurable."""


@dataclass
class R030Settings:
    """``[R030]``: not configurable."""


@dataclass
class R035Settings:
    """``[R035]`` (r035.rs ``R035::new``): minimum number of other tenderers with
    disqualified bids, default 1 (values below 1 count as 1)."""

    threshold: int = 1


@dataclass
class R036Settings:
    """``[R036]``: not configurable."""


@dataclass
class R038Settings:
    """``[R038]`` (r038.rs ``R038::new``): ``threshold``: a fixed upper fence (unset:
    Q3 + 1.5 IQR); ``minimum_submitted_bids`` (tenderers, default 2);
    ``minimum_contracting_processes`` (buyers and procuring entities, default 2)."""

    threshold: float | None = None
    minimum_submitted_bids: int = 2
    minimum_contracting_processes: int = 2


@dataclass
class R048Settings:
    """``[R048]`` (r048.rs ``R048::new``): ``digits`` of the classification's first level
    (default 2); ``threshold``: a fixed upper fence (unset: Q3 + 1.5 IQR);
    ``minimum_contracting_processes`` for a supplier to count (default 20)."""

    digits: int = 2
    threshold: int | None = None
    minimum_contracting_processes: int = 20


@dataclass
class R058Settings:
    """``[R058]`` (r058.rs): a fixed upper fence; unset: Q3 + 1.5 IQR of the ratios."""

    threshold: float | None = None


_SECTION_TYPES: dict[str, type] = {
    "R003": R003Settings,
    "R018": R018Settings,
    "R024": R024Settings,
    "R025": R025Settings,
    "R028": R028Settings,
    "R030": R030Settings,
    "R035": R035Settings,
    "R036": R036Settings,
    "R038": R038Settings,
    "R048": R048Settings,
    "R058": R058Settings,
}

# Sections Cardinal accepts that this port does not use: the ``prepare`` command's, and the
# indicators not ported (R044, R055).
_IGNORED_SECTIONS = frozenset(
    {
        "defaults",
        "redactions",
        "corrections",
        "modifications",
        "codelists",
        "codelists.bid_status",
        "codelists.award_status",
        "R044",
        "R055",
    }
)

_GLOBAL_KEYS = (
    "currency",
    "no_price_comparison_procurement_methods",
    "price_comparison_procurement_methods",
)

_TOP = "__top__"


class _CaseSensitiveParser(configparser.ConfigParser):
    def optionxform(self, optionstr: str) -> str:
        return optionstr


def _parse_int(section: str, key: str, text: str, *, natural: bool = False) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError(f"[{section}] {key}: expected an integer, got {text!r}") from None
    if natural and value < 0:
        raise ValueError(f"[{section}] {key}: expected a non-negative integer, got {text!r}")
    return value


def _parse_float(section: str, key: str, text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise ValueError(f"[{section}] {key}: expected a decimal, got {text!r}") from None


@dataclass
class CardinalSettings:
    """Cardinal's settings for the ``indicators`` command (cardinal-rs ``Settings``).

    An indicator runs if its field is not ``None``. The default instance enables all eleven
    indicators with Cardinal's defaults, like the settings file written by ``ocdscardinal
    init`` (every section present, every property commented out). ``from_ini`` follows
    Cardinal instead: only the sections present in the file are enabled.

    Global settings: ``currency`` (the main currency; unset: the first observed one),
    ``no_price_comparison_procurement_methods`` / ``price_comparison_procurement_methods``
    (pipe-separated ``/tender/procurementMethodDetails`` values excluded from, or the only
    ones included in, price comparisons: R024, R028, R036, R058) and
    ``exclusions_procurement_method_details`` (``[exclusions] procurement_method_details``:
    processes excluded from all indicators).
    """

    currency: str | None = None
    no_price_comparison_procurement_methods: str | None = None
    price_comparison_procurement_methods: str | None = None
    exclusions_procurement_method_details: str | None = None
    r003: R003Settings | None = field(default_factory=R003Settings)
    r018: R018Settings | None = field(default_factory=R018Settings)
    r024: R024Settings | None = field(default_factory=R024Settings)
    r025: R025Settings | None = field(default_factory=R025Settings)
    r028: R028Settings | None = field(default_factory=R028Settings)
    r030: R030Settings | None = field(default_factory=R030Settings)
    r035: R035Settings | None = field(default_factory=R035Settings)
    r036: R036Settings | None = field(default_factory=R036Settings)
    r038: R038Settings | None = field(default_factory=R038Settings)
    r048: R048Settings | None = field(default_factory=R048Settings)
    r058: R058Settings | None = field(default_factory=R058Settings)

    @classmethod
    def disabled(cls, **global_settings: str | None) -> CardinalSettings:
        """No indicator enabled (Cardinal's ``Settings::default()``)."""
        settings = cls(**global_settings)  # type: ignore[arg-type]
        for code in CODES:
            setattr(settings, code.lower(), None)
        return settings

    @classmethod
    def only(cls, *codes: str, **global_settings: str | None) -> CardinalSettings:
        """Only these indicators, with their defaults."""
        settings = cls.disabled(**global_settings)
        for code in codes:
            if code not in _SECTION_TYPES:
                raise ValueError(f"unknown indicator {code!r}")
            setattr(settings, code.lower(), _SECTION_TYPES[code]())
        return settings

    @property
    def enabled(self) -> tuple[str, ...]:
        """The codes of the enabled indicators."""
        return tuple(code for code in CODES if getattr(self, code.lower()) is not None)

    def indicator(self, code: str) -> Any:
        """The settings object of one indicator (``None`` if disabled)."""
        return getattr(self, code.lower())

    @classmethod
    def from_ini(cls, source: str | os.PathLike[str]) -> CardinalSettings:
        """Read a Cardinal settings file (a path, or the INI text itself).

        As in Cardinal: global keys go before any section; ``[R003]`` … ``[R058]`` enable an
        indicator (properties optional); ``[R003.procurement_method_details]`` maps
        ``/tender/procurementMethodDetails`` values to thresholds; ``[exclusions]
        procurement_method_details``; unknown keys are errors (``deny_unknown_fields``);
        the ``prepare`` command's sections and R044/R055 are accepted and ignored. Comments
        start with ``;`` or ``#``, also after a value (``threshold = 15 # default``).
        """
        if isinstance(source, os.PathLike) or (
            "\n" not in source and "=" not in source and "[" not in source and source.strip()
        ):
            text = Path(source).read_text(encoding="utf-8")
        else:
            text = str(source)

        parser = _CaseSensitiveParser(
            interpolation=None,
            comment_prefixes=(";", "#"),
            inline_comment_prefixes=(";", "#"),
            strict=False,
            default_section="__no_defaults__",
        )
        parser.read_string(f"[{_TOP}]\n{text}")

        settings = cls.disabled()
        for section in parser.sections():
            items = dict(parser.items(section))
            if section == _TOP:
                for key, value in items.items():
                    if key not in _GLOBAL_KEYS:
                        raise ValueError(f"unknown setting {key!r}")
                    setattr(settings, key, value.strip())
            elif section == "exclusions":
                for key, value in items.items():
                    if key != "procurement_method_details":
                        raise ValueError(f"[exclusions] unknown setting {key!r}")
                    settings.exclusions_procurement_method_details = value.strip()
            elif section == "R003.procurement_method_details":
                r003 = settings.r003 or R003Settings()
                settings.r003 = r003
                for key, value in items.items():
                    r003.procurement_method_details[key] = _parse_int(section, key, value)
            elif section in _SECTION_TYPES:
                current = settings.indicator(section) or _SECTION_TYPES[section]()
                setattr(settings, section.lower(), current)
                _apply_section(section, current, items)
            elif section in _IGNORED_SECTIONS:
                continue
            else:
                raise ValueError(f"unknown settings section [{section}]")
        return settings


def _apply_section(section: str, target: Any, items: Mapping[str, str]) -> None:
    known = {f.name: f for f in fields(target)}
    for key, text in items.items():
        if key not in known or key == "procurement_method_details":
            raise ValueError(f"[{section}] unknown setting {key!r}")
        kind = str(known[key].type)
        value: Any
        if "float" in kind:
            value = _parse_float(section, key, text)
        elif "int" in kind:
            # usize in Cardinal except R003's threshold (i64).
            value = _parse_int(section, key, text, natural=(section, key) != ("R003", "threshold"))
        else:
            value = text.strip()
        setattr(target, key, value)


def _pipe_set(value: str | None, default: str = "") -> frozenset[str]:
    """lib.rs ``parse_pipe_separated_value``: ``split_terminator('|')``."""
    parts = (default if value is None else value).split("|")
    if parts and parts[-1] == "":
        parts.pop()
    return frozenset(parts)


# --------------------------------------------------------------------------------------------
# Helpers shared by indicators (cardinal-rs src/lib.rs ``impl Indicators``)
# --------------------------------------------------------------------------------------------


def _is_number(value: Any) -> TypeGuard[int | float]:
    """A JSON number (``serde_json::Value::Number``): not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _dict(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _list(value: Any) -> list[Any] | None:
    return value if isinstance(value, list) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else None


def _is_cancelled_contracting_process(release: Mapping[str, Any]) -> bool:
    """lib.rs ``Indicators::is_cancelled_contracting_process``."""
    return _get(release.get("tender"), "status") == "cancelled"


def _matches_procurement_method(tender: Mapping[str, Any], allowed: frozenset[str]) -> bool:
    """lib.rs ``Indicators::matches_procurement_method``: an empty set matches all."""
    if not allowed:
        return True
    method = tender.get("procurementMethod")
    return isinstance(method, str) and method in allowed


def _matches_procurement_method_details(
    release: Mapping[str, Any], include: frozenset[str], exclude: frozenset[str]
) -> bool:
    """lib.rs ``Indicators::matches_procurement_method_details``.

    A deny list works even if empty; an allow list only if non-empty. If the field is not
    set, the process matches only when no allow list is given.
    """
    details = _get(release.get("tender"), "procurementMethodDetails")
    if isinstance(details, str):
        return details not in exclude if not include else details in include
    return not include


def _get_complete_awards_and_bids_if_all_awards_final(
    release: Mapping[str, Any],
) -> tuple[list[dict[str, Any]], list[Any]] | None:
    """lib.rs ``Indicators::get_complete_awards_and_bids_if_all_awards_final``.

    ``None`` unless ``awards`` and ``bids/details`` are arrays and every award with a string
    status is final: ``active`` awards are returned, ``cancelled`` and ``unsuccessful`` are
    skipped, any other status (``pending``, ``invalid``) excludes the process.
    """
    awards = _list(release.get("awards"))
    details = _list(_get(release.get("bids"), "details"))
    if awards is None or details is None:
        return None
    complete = []
    for award in awards:
        status = _get(award, "status")
        if isinstance(status, str):
            if status == "active":
                complete.append(award)
            elif status not in ("cancelled", "unsuccessful"):
                return None
    return complete, details


def _get_submitted_bids(release: Mapping[str, Any]) -> list[dict[str, Any]]:
    """lib.rs ``Indicators::get_submitted_bids``: bids with a string status other than
    ``invited`` or ``withdrawn`` (that is pending, valid, disqualified)."""
    details = _list(_get(release.get("bids"), "details"))
    if details is None:
        return []
    return [
        bid
        for bid in details
        if isinstance(bid, dict)
        and isinstance(bid.get("status"), str)
        and bid["status"] not in ("invited", "withdrawn")
    ]


def _get_tenderer_and_value_of_valid_bids(details: list[Any]) -> list[tuple[str, float, str]]:
    """lib.rs ``Indicators::get_tenderer_and_value_of_valid_bids``: valid bids with a numeric
    amount, a currency and exactly one tenderer with a string id."""
    tuples = []
    for bid in details:
        if not isinstance(bid, dict) or bid.get("status") != "valid":
            continue
        value = _dict(bid.get("value"))
        tenderers = _list(bid.get("tenderers"))
        if value is None or tenderers is None or len(tenderers) != 1:
            continue
        amount = value.get("amount")
        currency = value.get("currency")
        tenderer_id = _get(tenderers[0], "id")
        if _is_number(amount) and isinstance(currency, str) and isinstance(tenderer_id, str):
            tuples.append((tenderer_id, float(amount), currency))
    return tuples


class _Currency:
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


def _quantile(data: list[float], tau: float) -> float:
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


def _mul_add(a: float, b: float, c: float) -> float:
    """Rust ``f64::mul_add``: ``a * b + c`` with one rounding (exact rationals)."""
    if math.isfinite(a) and math.isfinite(b) and math.isfinite(c):
        return float(Fraction(a) * Fraction(b) + Fraction(c))
    return a * b + c


def _divide(numerator: float, denominator: float) -> float:
    """IEEE 754 division, as f64 in Rust (no ZeroDivisionError)."""
    if denominator == 0.0:
        if numerator == 0.0 or math.isnan(numerator):
            return math.nan
        negative = (numerator < 0) != (math.copysign(1.0, denominator) < 0)
        return -math.inf if negative else math.inf
    return numerator / denominator


def _round4(value: float) -> float | None:
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


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})"
)


def _rfc3339_nanoseconds(text: str) -> int | None:
    """chrono ``DateTime::parse_from_rfc3339``, as nanoseconds since 0001-01-01 UTC."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction, offset = match.group(7), match.group(8)
    try:
        ordinal = date(year, month, day).toordinal()
    except ValueError:
        return None
    if hour > 23 or minute > 59 or second > 60:
        return None
    nanos = int((fraction or "0")[:9].ljust(9, "0"))
    offset_seconds = 0
    if offset not in ("Z", "z"):
        offset_hours, offset_minutes = int(offset[1:3]), int(offset[4:6])
        if offset_hours > 23 or offset_minutes > 59:
            return None
        offset_seconds = (offset_hours * 3600 + offset_minutes * 60) * (
            -1 if offset[0] == "-" else 1
        )
    seconds = ordinal * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds
    return seconds * 1_000_000_000 + nanos


def _whole_days(nanoseconds: int) -> int:
    """chrono ``TimeDelta::num_days``: truncated toward zero."""
    days = abs(nanoseconds) // 86_400_000_000_000
    return days if nanoseconds >= 0 else -days


# --------------------------------------------------------------------------------------------
# Flags
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedFlag:
    """One red flag raised for a contracting process or for an organisation in it.

    ``group`` and ``subject`` say what is flagged (Cardinal's group and identifier: the
    ``ocid``, or a buyer, procuring entity or tenderer id); ``value`` is Cardinal's output
    for it; ``values`` holds the figures behind it (for example the price difference, the
    bids compared and the fence).
    """

    code: str
    group: str
    subject: str
    value: float
    values: Mapping[str, Any] = field(default_factory=dict)

    @property
    def title_en(self) -> str:
        return TITLES[self.code]["en"]

    @property
    def title_zh(self) -> str:
        return TITLES[self.code]["zh"]

    @property
    def description_en(self) -> str:
        return DESCRIPTIONS[self.code]["en"]

    @property
    def description_zh(self) -> str:
        return DESCRIPTIONS[self.code]["zh"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "group": self.group,
            "subject": self.subject,
            "value": self.value,
            "title_en": self.title_en,
            "title_zh": self.title_zh,
            "description_en": self.description_en,
            "description_zh": self.description_zh,
            "values": dict(self.values),
        }


@dataclass
class _SecondLowest:
    """What util.rs ``SecondLowestBidRatio::fold`` records for one process."""

    ratio: float
    winner: str
    lowest_non_winner: str
    winner_amount: float
    lowest_non_winner_amount: float
    currency: str


@dataclass
class _Process:
    """Everything one contracting process contributes (the ``fold`` step of each indicator)."""

    ocid: str
    flags: list[RedFlag] = field(default_factory=list)
    second_lowest: _SecondLowest | None = None
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


class _Evaluator:
    """The per-process (``fold``) part of every enabled indicator, in Cardinal's order."""

    def __init__(self, settings: CardinalSettings, currency: _Currency) -> None:
        self.settings = settings
        self.currency = currency
        self.exclude_details = _pipe_set(settings.exclusions_procurement_method_details)
        self.no_price = _pipe_set(settings.no_price_comparison_procurement_methods)
        self.price = _pipe_set(settings.price_comparison_procurement_methods)
        if self.no_price and self.price:
            log.warning(
                "no_price_comparison_procurement_methods has no effect if "
                "price_comparison_procurement_methods is set."
            )
        self.second_lowest_enabled = settings.r024 is not None or settings.r058 is not None
        r003 = settings.r003
        self.r003_methods = _pipe_set(r003.procurement_methods) if r003 else frozenset()
        r018 = settings.r018
        self.r018_methods = (
            _pipe_set(r018.procurement_methods, "open|selective") if r018 else frozenset()
        )
        r035 = settings.r035
        self.r035_threshold = max(r035.threshold, 1) if r035 else 1

    def included(self, release: Any) -> str | None:
        """lib.rs ``Indicators::run``: the ocid if the process is not excluded."""
        if not isinstance(release, dict):
            return None
        ocid = release.get("ocid")
        if not isinstance(ocid, str):
            return None
        if _is_cancelled_contracting_process(release):
            return None
        if not _matches_procurement_method_details(release, frozenset(), self.exclude_details):
            return None
        return ocid

    def _price_comparison(self, release: Mapping[str, Any]) -> bool:
        return _matches_procurement_method_details(release, self.price, self.no_price)

    def evaluate(self, release: dict[str, Any], ocid: str) -> _Process:
        process = _Process(ocid)
        s = self.settings
        if self.second_lowest_enabled:
            self._second_lowest_bid_ratio(release, process)
        if s.r003 is not None:
            self._r003(release, process, s.r003)
        if s.r018 is not None:
            self._r018(release, process)
        if s.r025 is not None:
            self._r025(release, process)
        if s.r028 is not None:
            self._r028(release, process)
        if s.r030 is not None:
            self._r030(release, process)
        if s.r035 is not None:
            self._r035(release, process)
        if s.r036 is not None:
            self._r036(release, process)
        if s.r038 is not None:
            self._r038(release, process)
        if s.r048 is not None:
            self._r048(release, process, s.r048.digits)
        return process

    # util.rs SecondLowestBidRatio::fold
    def _second_lowest_bid_ratio(self, release: dict[str, Any], process: _Process) -> None:
        """The winning bid and the lowest valid bid of another tenderer, in the main currency.

        Only if every award is final, there is exactly one active award with exactly one
        supplier (string id), and the lowest non-winning bid is not lower than the winner's
        (price-only award). Ratio = (second - winner) / winner.
        """
        if not self._price_comparison(release):
            return
        found = _get_complete_awards_and_bids_if_all_awards_final(release)
        if found is None:
            return
        complete_awards, details = found
        if len(complete_awards) != 1:
            return
        suppliers = _list(complete_awards[0].get("suppliers"))
        if suppliers is None or len(suppliers) != 1:
            return
        supplier_id = _get(suppliers[0], "id")
        if not isinstance(supplier_id, str):
            return
        winner: str | None = None
        winner_amount: float | None = None
        other: str | None = None
        other_amount: float | None = None
        currency_seen = ""
        for tenderer_id, amount, currency in _get_tenderer_and_value_of_valid_bids(details):
            if not self.currency.accepts(currency):
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
            process.second_lowest = _SecondLowest(
                ratio=_divide(other_amount - winner_amount, winner_amount),
                winner=winner,
                lowest_non_winner=other,
                winner_amount=winner_amount,
                lowest_non_winner_amount=other_amount,
                currency=currency_seen,
            )

    # r003.rs R003::fold
    def _r003(self, release: dict[str, Any], process: _Process, r003: R003Settings) -> None:
        """Flag if (endDate - startDate) in whole days < threshold (per method details)."""
        tender = _dict(release.get("tender"))
        if tender is None or not _matches_procurement_method(tender, self.r003_methods):
            return
        period = _dict(tender.get("tenderPeriod"))
        start = _str(_get(period, "startDate"))
        end = _str(_get(period, "endDate"))
        if start is None or end is None:
            return
        start_ns = _rfc3339_nanoseconds(start)
        end_ns = _rfc3339_nanoseconds(end)
        if start_ns is None or end_ns is None:
            return
        days = _whole_days(end_ns - start_ns)
        details = tender.get("procurementMethodDetails")
        if isinstance(details, str) and details in r003.procurement_method_details:
            threshold = r003.procurement_method_details[details]
        else:
            threshold = r003.threshold
        if days < threshold:
            process.flags.append(
                RedFlag(
                    "R003",
                    "OCID",
                    process.ocid,
                    1.0,
                    {
                        "submission_period_days": days,
                        "threshold_days": threshold,
                        "start_date": start,
                        "end_date": end,
                    },
                )
            )

    # r018.rs R018::fold
    def _r018(self, release: dict[str, Any], process: _Process) -> None:
        """Flag if ``numberOfTenderers`` is the integer 1 in a competitive procedure."""
        tender = _dict(release.get("tender"))
        if tender is None or not _matches_procurement_method(tender, self.r018_methods):
            return
        number = tender.get("numberOfTenderers")
        # serde_json ``as_u64().unwrap_or_default() == 1``: a float 1.0 is not 1.
        if isinstance(number, int) and not isinstance(number, bool) and number == 1:
            process.flags.append(
                RedFlag(
                    "R018",
                    "OCID",
                    process.ocid,
                    1.0,
                    {
                        "number_of_tenderers": 1,
                        "procurement_method": tender.get("procurementMethod"),
                    },
                )
            )

    # r025.rs R025::fold
    def _r025(self, release: dict[str, Any], process: _Process) -> None:
        """Count, per valid tenderer (once per process), a bid and whether it won."""
        found = _get_complete_awards_and_bids_if_all_awards_final(release)
        if found is None:
            return
        complete_awards, details = found
        if len(complete_awards) != 1:
            return
        suppliers = _list(complete_awards[0].get("suppliers"))
        if suppliers is None or len(suppliers) != 1:
            return
        supplier_id = _get(suppliers[0], "id")
        if not isinstance(supplier_id, str):
            return
        for bid in details:
            if not isinstance(bid, dict) or bid.get("status") != "valid":
                continue
            tenderers = _list(bid.get("tenderers"))
            if tenderers is None or len(tenderers) != 1:
                continue
            tenderer_id = _get(tenderers[0], "id")
            if isinstance(tenderer_id, str):
                process.r025[tenderer_id] = supplier_id == tenderer_id

    # r028.rs R028::fold
    def _r028(self, release: dict[str, Any], process: _Process) -> None:
        """Flag if submitted bids of different tenderer sets have the same (amount, currency)."""
        if not self._price_comparison(release):
            return
        prices: dict[tuple[float, str], frozenset[str]] = {}
        flagged: set[str] = set()
        matches: list[dict[str, Any]] = []
        for bid in _get_submitted_bids(release):
            tenderers = _list(bid.get("tenderers"))
            value = _dict(bid.get("value"))
            if tenderers is None or value is None:
                continue
            amount = value.get("amount")
            currency = value.get("currency")
            if not _is_number(amount) or not isinstance(currency, str):
                continue
            ids = frozenset(
                tenderer["id"]
                for tenderer in tenderers
                if isinstance(tenderer, dict) and isinstance(tenderer.get("id"), str)
            )
            if not ids:
                continue
            price = (float(amount), currency)
            other = prices.get(price)
            # A tenderer is allowed to submit additional bids with the same price.
            if other is not None and ids != other:
                flagged.update(ids, other)
                matches.append(
                    {"amount": price[0], "currency": currency, "tenderers": sorted(ids | other)}
                )
            prices[price] = ids
        if flagged:
            process.flags.append(
                RedFlag("R028", "OCID", process.ocid, 1.0, {"identical_prices": matches})
            )
            for tenderer_id in sorted(flagged):
                process.flags.append(
                    RedFlag(
                        "R028",
                        "Tenderer",
                        tenderer_id,
                        1.0,
                        {"ocid": process.ocid, "identical_prices": matches},
                    )
                )

    # r030.rs R030::fold
    def _r030(self, release: dict[str, Any], process: _Process) -> None:
        """Flag a valid bid dated after the deadline whose tenderer supplies an active award."""
        end_date = _str(_get(_get(release.get("tender"), "tenderPeriod"), "endDate"))
        awards = _list(release.get("awards"))
        details = _list(_get(release.get("bids"), "details"))
        if end_date is None or awards is None or details is None:
            return
        supplier_ids: set[str] = set()
        for award in awards:
            suppliers = _list(_get(award, "suppliers"))
            if _get(award, "status") == "active" and suppliers is not None:
                supplier_ids.update(
                    s["id"]
                    for s in suppliers
                    if isinstance(s, dict) and isinstance(s.get("id"), str)
                )
        late: dict[str, str] = {}
        for bid in details:
            if not isinstance(bid, dict) or bid.get("status") != "valid":
                continue
            bid_date = bid.get("date")
            tenderers = _list(bid.get("tenderers"))
            # Cardinal compares the date strings.
            if not isinstance(bid_date, str) or tenderers is None or not bid_date > end_date:
                continue
            for tenderer in tenderers:
                tenderer_id = _get(tenderer, "id")
                if isinstance(tenderer_id, str) and tenderer_id in supplier_ids:
                    late.setdefault(tenderer_id, bid_date)
        if late:
            process.flags.append(
                RedFlag(
                    "R030",
                    "OCID",
                    process.ocid,
                    1.0,
                    {"tender_period_end_date": end_date, "late_winning_bids": late},
                )
            )
            for tenderer_id, bid_date in late.items():
                process.flags.append(
                    RedFlag(
                        "R030",
                        "Tenderer",
                        tenderer_id,
                        1.0,
                        {
                            "ocid": process.ocid,
                            "bid_date": bid_date,
                            "tender_period_end_date": end_date,
                        },
                    )
                )

    # r035.rs R035::fold
    def _r035(self, release: dict[str, Any], process: _Process) -> None:
        """Flag if one tenderer's valid bids won all active awards and at least ``threshold``
        other tenderers had disqualified bids."""
        supplier_ids: set[str] = set()
        valid_ids: set[str] = set()
        disqualified_ids: set[str] = set()
        found = _get_complete_awards_and_bids_if_all_awards_final(release)
        if found is not None:
            complete_awards, details = found
            for award in complete_awards:
                for supplier in _list(award.get("suppliers")) or ():
                    supplier_id = _get(supplier, "id")
                    if isinstance(supplier_id, str):
                        supplier_ids.add(supplier_id)
            for bid in details:
                status = _get(bid, "status")
                tenderers = _list(_get(bid, "tenderers"))
                if not isinstance(status, str) or tenderers is None:
                    continue
                if status == "valid":
                    target = valid_ids
                elif status == "disqualified":
                    target = disqualified_ids
                else:  # invited, pending, withdrawn
                    continue
                for tenderer in tenderers:
                    tenderer_id = _get(tenderer, "id")
                    if isinstance(tenderer_id, str):
                        target.add(tenderer_id)
        if len(valid_ids) != 1 or valid_ids != supplier_ids:
            return
        difference = len(disqualified_ids - valid_ids)
        if difference >= self.r035_threshold:
            (winner,) = valid_ids
            others = sorted(disqualified_ids - valid_ids)
            process.flags.append(
                RedFlag(
                    "R035",
                    "OCID",
                    process.ocid,
                    float(difference),
                    {"winner": winner, "disqualified_tenderers": others},
                )
            )
            process.flags.append(
                RedFlag(
                    "R035",
                    "Tenderer",
                    winner,
                    0.0,
                    {"ocid": process.ocid, "disqualified_tenderers": others},
                )
            )

    # r036.rs R036::fold
    def _r036(self, release: dict[str, Any], process: _Process) -> None:
        """Flag if, with an active award, the lowest submitted bid (main currency) is
        disqualified and some valid bid has an amount."""
        if not self._price_comparison(release):
            return
        awards = _list(release.get("awards"))
        if awards is None or not any(_get(a, "status") == "active" for a in awards):
            return
        lowest: float | None = None
        lowest_disqualified = False
        has_valid = False
        lowest_valid: float | None = None
        currency_seen = ""
        for bid in _get_submitted_bids(release):
            value = _dict(bid.get("value"))
            amount = _get(value, "amount")
            currency = _get(value, "currency")
            if not _is_number(amount) or not isinstance(currency, str):
                continue
            if not self.currency.accepts(currency):
                continue
            currency_seen = currency
            amount = float(amount)
            status = bid["status"]
            if lowest is None or amount < lowest:
                lowest = amount
                lowest_disqualified = status == "disqualified"
            if status == "valid":
                has_valid = True
                if lowest_valid is None or amount < lowest_valid:
                    lowest_valid = amount
        if has_valid and lowest_disqualified:
            process.flags.append(
                RedFlag(
                    "R036",
                    "OCID",
                    process.ocid,
                    1.0,
                    {
                        "lowest_disqualified_amount": lowest,
                        "lowest_valid_amount": lowest_valid,
                        "currency": currency_seen,
                    },
                )
            )

    # r038.rs R038::fold
    def _r038(self, release: dict[str, Any], process: _Process) -> None:
        """Count submitted and disqualified bids per tenderer, buyer and procuring entity."""
        submitted = _get_submitted_bids(release)
        if not submitted:
            return
        disqualified = 0
        for bid in submitted:
            increment = 1 if bid.get("status") == "disqualified" else 0
            disqualified += increment
            for tenderer in _list(bid.get("tenderers")) or ():
                tenderer_id = _get(tenderer, "id")
                if isinstance(tenderer_id, str):
                    process.r038_tenderers.append((tenderer_id, increment))
        process.r038_disqualified = disqualified
        process.r038_submitted = len(submitted)
        buyer_id = _get(release.get("buyer"), "id")
        if isinstance(buyer_id, str):
            process.r038_buyer = buyer_id
        entity_id = _get(_get(release.get("tender"), "procuringEntity"), "id")
        if isinstance(entity_id, str):
            process.r038_procuring_entity = entity_id

    # r048.rs R048::fold
    def _r048(self, release: dict[str, Any], process: _Process, digits: int) -> None:
        """Collect the first ``digits`` characters of item classifications per supplier of
        each active award with exactly one supplier."""
        for award in _list(release.get("awards")) or ():
            items = _list(_get(award, "items"))
            suppliers = _list(_get(award, "suppliers"))
            if _get(award, "status") != "active" or items is None or suppliers is None:
                continue
            if len(suppliers) != 1:
                continue
            supplier_id = _get(suppliers[0], "id")
            if not isinstance(supplier_id, str):
                continue
            for item in items:
                classification_id = _get(_get(item, "classification"), "id")
                if isinstance(classification_id, str):
                    codes = process.r048.setdefault(supplier_id, set())
                    codes.add(classification_id[:digits])


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
    second_lowest: dict[str, _SecondLowest]
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
                code: {key: _round4(value) for key, value in values.items()}
                for code, values in self.meta.items()
            }
        return out


def _set_result(
    results: dict[str, dict[str, dict[str, float]]], group: str, key: str, code: str, value: float
) -> None:
    results.setdefault(group, {}).setdefault(key, {})[code] = value


def build_context(
    releases: Iterable[Any], settings: CardinalSettings | None = None
) -> CardinalContext:
    """Run Cardinal's ``indicators`` over ``releases`` (OCDS compiled releases, one per
    contracting process) and keep the dataset-level state."""
    settings = settings if settings is not None else CardinalSettings()
    currency = _Currency(settings.currency)
    evaluator = _Evaluator(settings, currency)
    results: dict[str, dict[str, dict[str, float]]] = {}
    meta: dict[str, dict[str, float]] = {}
    second_lowest: dict[str, _SecondLowest] = {}
    r025: dict[str, list[int]] = {}
    r038: dict[str, dict[str, list[int]]] = {"Buyer": {}, "ProcuringEntity": {}, "Tenderer": {}}
    r048: dict[str, tuple[list[int], set[str]]] = {}

    for release in releases:
        ocid = evaluator.included(release)
        if ocid is None:
            continue
        process = evaluator.evaluate(release, ocid)
        for flag in process.flags:
            _set_result(results, flag.group, flag.subject, flag.code, flag.value)
        if process.second_lowest is not None:
            second_lowest[ocid] = process.second_lowest
        for tenderer_id, won in process.r025.items():
            fraction = r025.setdefault(tenderer_id, [0, 0])
            fraction[0] += int(won)
            fraction[1] += 1
        for tenderer_id, increment in process.r038_tenderers:
            fraction = r038["Tenderer"].setdefault(tenderer_id, [0, 0])
            fraction[0] += increment
            fraction[1] += 1
        for group, org_id in (
            ("Buyer", process.r038_buyer),
            ("ProcuringEntity", process.r038_procuring_entity),
        ):
            if org_id is not None:
                fraction = r038[group].setdefault(org_id, [0, 0])
                fraction[0] += process.r038_disqualified
                fraction[1] += process.r038_submitted
        for supplier_id, codes in process.r048.items():
            count, all_codes = r048.setdefault(supplier_id, ([0], set()))
            count[0] += 1  # a supplier is observed in a process at most once
            all_codes.update(codes)

    context = CardinalContext(settings, results, meta, currency.value, second_lowest)
    if settings.r024 is not None:
        _finalize_r024(context, settings.r024)
    if settings.r025 is not None:
        _finalize_r025(context, settings.r025, r025)
    if settings.r038 is not None:
        _finalize_r038(context, settings.r038, r038)
    if settings.r048 is not None:
        _finalize_r048(context, settings.r048, r048)
    if settings.r058 is not None:
        _finalize_r058(context, settings.r058)
    return context


def _second_lowest_values(entry: _SecondLowest) -> dict[str, Any]:
    return {
        "difference": entry.ratio,
        "winner": entry.winner,
        "second_lowest_bidder": entry.lowest_non_winner,
        "winning_amount": entry.winner_amount,
        "second_lowest_amount": entry.lowest_non_winner_amount,
        "currency": entry.currency,
    }


def _r024_fence(data: list[float], threshold: float | None) -> tuple[float, float, dict]:
    """r024.rs ``R024::finalize``: (lower fence, q1, meta)."""
    if threshold is not None:
        return threshold, 1.0, {}  # dummy q1 to pass the guard
    q1 = _quantile(data, 0.25)
    q3 = _quantile(data, 0.75)
    return _mul_add(q3 - q1, -1.5, q1), q1, {"q1": q1, "q3": q3}


def _r058_fence(data: list[float], threshold: float | None) -> tuple[float, dict]:
    """r058.rs ``R058::finalize``: (upper fence, meta)."""
    if threshold is not None:
        return threshold, {}
    q1 = _quantile(data, 0.25)
    q3 = _quantile(data, 0.75)
    return _mul_add(q3 - q1, 1.5, q3), {"q1": q1, "q3": q3}


def _finalize_r024(context: CardinalContext, r024: R024Settings) -> None:
    """r024.rs ``R024::finalize``: flag ratios <= Q1 - 1.5 IQR (skipped unless Q1 > 0 and the
    fence > 0); the process gets the ratio, the winner and second-lowest bidder 0.0."""
    ratios = [entry.ratio for entry in context.second_lowest.values()]
    lower_fence, q1, meta = _r024_fence(ratios, r024.threshold)
    context.meta.setdefault("R024", {}).update({**meta, "lower_fence": lower_fence})
    context.r024_lower_fence, context.r024_q1 = lower_fence, q1
    if q1 > 0.0 and lower_fence > 0.0:
        for ocid, entry in context.second_lowest.items():
            if entry.ratio <= lower_fence:
                _set_result(context.results, "OCID", ocid, "R024", entry.ratio)
                _set_result(context.results, "Tenderer", entry.winner, "R024", 0.0)
                _set_result(context.results, "Tenderer", entry.lowest_non_winner, "R024", 0.0)


def _finalize_r058(context: CardinalContext, r058: R058Settings) -> None:
    """r058.rs ``R058::finalize``: flag ratios >= Q3 + 1.5 IQR (skipped unless the fence > 0);
    the process gets the ratio, the winner 0.0."""
    ratios = [entry.ratio for entry in context.second_lowest.values()]
    upper_fence, meta = _r058_fence(ratios, r058.threshold)
    context.meta.setdefault("R058", {}).update({**meta, "upper_fence": upper_fence})
    context.r058_upper_fence = upper_fence
    if upper_fence > 0.0:
        for ocid, entry in context.second_lowest.items():
            if entry.ratio >= upper_fence:
                _set_result(context.results, "OCID", ocid, "R058", entry.ratio)
                _set_result(context.results, "Tenderer", entry.winner, "R058", 0.0)


def _finalize_r025(
    context: CardinalContext, r025: R025Settings, fractions: dict[str, list[int]]
) -> None:
    """r025.rs ``R025::finalize``: a tenderer whose number of valid bids is >= the
    ``percentile`` of those numbers and whose win ratio is <= Q1 - 1.5 IQR of the ratios
    (skipped unless Q1 > 0 and the fence > 0)."""
    upper_fence = _quantile([float(d) for _, d in fractions.values()], r025.percentile / 100.0)
    ratios = {key: _divide(float(n), float(d)) for key, (n, d) in fractions.items()}
    meta: dict[str, float] = {}
    if r025.threshold is None:
        q1 = _quantile(list(ratios.values()), 0.25)
        q3 = _quantile(list(ratios.values()), 0.75)
        meta = {"q1": q1, "q3": q3}
        lower_fence = _mul_add(q3 - q1, -1.5, q1)
    else:
        lower_fence, q1 = r025.threshold, 1.0
    context.meta.setdefault("R025", {}).update(
        {**meta, "upper_fence": upper_fence, "lower_fence": lower_fence}
    )
    if q1 > 0.0 and lower_fence > 0.0:
        for key, (won, bids) in fractions.items():
            ratio = ratios[key]
            if bids >= upper_fence and ratio <= lower_fence:
                _set_result(context.results, "Tenderer", key, "R025", ratio)
                context.organisation_values[("R025", "Tenderer", key)] = {
                    "win_ratio": ratio,
                    "winning_bids": won,
                    "valid_bids": bids,
                    "valid_bids_upper_fence": upper_fence,
                    "lower_fence": lower_fence,
                }


def _finalize_r038(
    context: CardinalContext, r038: R038Settings, fractions: dict[str, dict[str, list[int]]]
) -> None:
    """r038.rs ``R038::finalize`` (macro ``flag!``): per group, organisations whose count of
    submitted bids (the fraction's denominator) reaches the minimum; flag ratios >= Q3 + 1.5
    IQR (skipped unless the fence > 0)."""
    minimums = {
        "Buyer": r038.minimum_contracting_processes,
        "ProcuringEntity": r038.minimum_contracting_processes,
        "Tenderer": r038.minimum_submitted_bids,
    }
    for group in ("Buyer", "ProcuringEntity", "Tenderer"):
        eligible = {key: (n, d) for key, (n, d) in fractions[group].items() if d >= minimums[group]}
        if not eligible:
            continue
        ratios = {key: _divide(float(n), float(d)) for key, (n, d) in eligible.items()}
        meta = context.meta.setdefault("R038", {})
        if r038.threshold is None:
            q1 = _quantile(list(ratios.values()), 0.25)
            q3 = _quantile(list(ratios.values()), 0.75)
            meta[f"{group}_q1"] = q1
            meta[f"{group}_q3"] = q3
            upper_fence = _mul_add(q3 - q1, 1.5, q3)
        else:
            upper_fence = r038.threshold
        meta[f"{group}_upper_fence"] = upper_fence
        if upper_fence > 0.0:
            for key, ratio in ratios.items():
                if ratio >= upper_fence:
                    _set_result(context.results, group, key, "R038", ratio)
                    context.organisation_values[("R038", group, key)] = {
                        "disqualified_ratio": ratio,
                        "disqualified_bids": eligible[key][0],
                        "submitted_bids": eligible[key][1],
                        "upper_fence": upper_fence,
                    }


def _finalize_r048(
    context: CardinalContext,
    r048: R048Settings,
    classifications: dict[str, tuple[list[int], set[str]]],
) -> None:
    """r048.rs ``R048::finalize``: among suppliers in at least ``minimum_contracting_processes``
    processes, flag a variety (distinct first-level codes) >= Q3 + 1.5 IQR (no guard)."""
    lengths = {
        key: (float(len(codes)), count[0])
        for key, (count, codes) in classifications.items()
        if count[0] >= r048.minimum_contracting_processes
    }
    meta = context.meta.setdefault("R048", {})
    if r048.threshold is None:
        q1 = _quantile([length for length, _ in lengths.values()], 0.25)
        q3 = _quantile([length for length, _ in lengths.values()], 0.75)
        meta.update({"q1": q1, "q3": q3})
        upper_fence = _mul_add(q3 - q1, 1.5, q3)
    else:
        upper_fence = float(r048.threshold)
    meta["upper_fence"] = upper_fence
    for key, (length, count) in lengths.items():
        if length >= upper_fence:
            _set_result(context.results, "Tenderer", key, "R048", length)
            context.organisation_values[("R048", "Tenderer", key)] = {
                "variety": length,
                "contracting_processes": count,
                "upper_fence": upper_fence,
                "classifications": sorted(classifications[key][1]),
            }


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
    currency = _Currency(settings.currency, context.currency if context is not None else None)
    evaluator = _Evaluator(settings, currency)
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
            if q1 > 0.0 and lower_fence > 0.0 and entry.ratio <= lower_fence:
                values = {**_second_lowest_values(entry), "lower_fence": lower_fence}
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
            if upper_fence > 0.0 and entry.ratio >= upper_fence:
                values = {**_second_lowest_values(entry), "upper_fence": upper_fence}
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
    buyer_id = _get(release.get("buyer"), "id")
    if isinstance(buyer_id, str):
        organisations["Buyer"].add(buyer_id)
    entity_id = _get(_get(release.get("tender"), "procuringEntity"), "id")
    if isinstance(entity_id, str):
        organisations["ProcuringEntity"].add(entity_id)
    for bid in _list(_get(release.get("bids"), "details")) or ():
        for tenderer in _list(_get(bid, "tenderers")) or ():
            tenderer_id = _get(tenderer, "id")
            if isinstance(tenderer_id, str):
                organisations["Tenderer"].add(tenderer_id)
    for award in _list(release.get("awards")) or ():
        for supplier in _list(_get(award, "suppliers")) or ():
            supplier_id = _get(supplier, "id")
            if isinstance(supplier_id, str):
                organisations["Tenderer"].add(supplier_id)

    flags = []
    for group, ids in organisations.items():
        group_results = context.results.get(group, {})
        for org_id in sorted(ids):
            for code, value in group_results.get(org_id, {}).items():
                if code in _ORGANISATION_CODES:
                    values = context.organisation_values.get((code, group, org_id), {})
                    flags.append(RedFlag(code, group, org_id, value, values))
    return flags


# --------------------------------------------------------------------------------------------
# Input
# --------------------------------------------------------------------------------------------


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
