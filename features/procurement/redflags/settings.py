"""Cardinal's settings (cardinal-rs ``src/indicators/mod.rs`` ``Settings``); each
indicator's own settings are beside it, in its module."""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from features.procurement.redflags.flag import CODES
from features.procurement.redflags.r003_short_submission_period import R003Settings
from features.procurement.redflags.r018_single_bid import R018Settings
from features.procurement.redflags.r024_price_close_to_winning_bid import R024Settings
from features.procurement.redflags.r025_excessive_unsuccessful_bids import R025Settings
from features.procurement.redflags.r028_identical_bid_prices import R028Settings
from features.procurement.redflags.r030_late_bid_won import R030Settings
from features.procurement.redflags.r035_all_except_winner_disqualified import R035Settings
from features.procurement.redflags.r036_lowest_bid_disqualified import R036Settings
from features.procurement.redflags.r038_excessive_disqualified_bids import R038Settings
from features.procurement.redflags.r048_heterogeneous_supplier import R048Settings
from features.procurement.redflags.r058_heavily_discounted_bid import R058Settings

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
