"""Conformance of ``features.procurement.redflags`` with Cardinal (open-contracting/cardinal-rs).

* Every ``cardinal_fixtures/indicators/NAME.jsonl`` against ``NAME.expected``, with the
  settings Cardinal's ``build.rs`` derives from the file name.
* The documentation's examples (``docs_examples/R``), with the outputs printed in Cardinal's
  docs (``docs/cli/indicators/R/0NN.md``, run with ``--no-meta``).
* ``flags_for_process`` agrees with ``compute_indicators`` on every fixture.
* The real Armenian data runs, fast.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from features.procurement.redflags import (
    CODES,
    DESCRIPTIONS,
    CardinalSettings,
    R025Settings,
    R058Settings,
    build_context,
    compute_indicators,
    flags_for_process,
    iter_jsonl,
)
from tests.conftest import SHARED_DATA

FIXTURES = SHARED_DATA / "procurement" / "cardinal_fixtures"
INDICATORS = FIXTURES / "indicators"
DOCS = FIXTURES / "docs_examples"
ARMENIA = SHARED_DATA / "procurement" / "ocds_armenia" / "armenia_armeps_tenders_prepared.jsonl.gz"


def settings_from_fixture_name(name: str) -> CardinalSettings:
    """cardinal-rs ``build.rs``: ``IDENT[-field-value | -field-k1-v1-k2-v2...]``, ``+`` for
    ``|``; every fixture also sets ``no_price_comparison_procurement_methods = NPC`` and
    ``[exclusions] procurement_method_details = EXC``; only ``IDENT`` is enabled."""
    parts = name.replace("+", "|").split("-")
    ident, rest = parts[0], parts[1:]
    settings = CardinalSettings.only(
        ident,
        no_price_comparison_procurement_methods="NPC",
        exclusions_procurement_method_details="EXC",
    )
    indicator = settings.indicator(ident)
    if len(rest) == 2:
        field, value = rest
        parsed: Any = int(value) if value.isascii() and value.isdigit() else value
        indicator = dataclasses.replace(indicator, **{field: parsed})
    elif len(rest) > 2:
        field, pairs = rest[0], rest[1:]
        mapping = {pairs[i]: int(pairs[i + 1]) for i in range(0, len(pairs) - 1, 2)}
        indicator = dataclasses.replace(indicator, **{field: mapping})
    setattr(settings, ident.lower(), indicator)
    return settings


FIXTURE_NAMES = sorted(path.stem for path in INDICATORS.glob("*.jsonl"))


def load(path: Path) -> list[Any]:
    return list(iter_jsonl(path))


def test_fixtures_found() -> None:
    assert len(FIXTURE_NAMES) == 15
    assert {name.split("-")[0] for name in FIXTURE_NAMES} == set(CODES)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_indicator_fixture(name: str) -> None:
    settings = settings_from_fixture_name(name)
    expected = json.loads((INDICATORS / f"{name}.expected").read_text())
    assert compute_indicators(load(INDICATORS / f"{name}.jsonl"), settings) == expected


def test_fixture_name_settings() -> None:
    settings = settings_from_fixture_name("R003-procurement_method_details-x-5-y-10")
    assert settings.r003 is not None
    assert settings.r003.procurement_method_details == {"x": 5, "y": 10}
    assert settings.enabled == ("R003",)
    settings = settings_from_fixture_name("R003-procurement_methods-open+selective")
    assert settings.r003 is not None
    assert settings.r003.procurement_methods == "open|selective"
    settings = settings_from_fixture_name("R048-minimum_contracting_processes-1")
    assert settings.r048 is not None
    assert settings.r048.minimum_contracting_processes == 1


# The outputs printed in Cardinal's documentation (docs/cli/indicators/R/0NN.md, ``--no-meta``),
# with ``--settings docs/examples/R/0NN.ini`` where it exists, else ``docs/examples/settings.ini``.
DOCS_OUTPUTS: dict[str, dict[str, Any]] = {
    "003": {"OCID": {"F": {"R003": 1.0}}},
    "018": {"OCID": {"F": {"R018": 1.0}}},
    "024": {"OCID": {"F": {"R024": 1.0}}, "Tenderer": {"W": {"R024": 0.0}, "L": {"R024": 0.0}}},
    "025": {"Tenderer": {"F": {"R025": 0.16666666666666666}}},
    "028": {"OCID": {"F": {"R028": 1.0}}, "Tenderer": {"D": {"R028": 1.0}, "V": {"R028": 1.0}}},
    "030": {"OCID": {"F": {"R030": 1.0}}, "Tenderer": {"W": {"R030": 1.0}}},
    "035": {"OCID": {"F": {"R035": 1.0}}, "Tenderer": {"V": {"R035": 0.0}}},
    "036": {"OCID": {"F": {"R036": 1.0}}},
    "038": {"Buyer": {"B": {"R038": 0.5}}},
    "048": {"Tenderer": {"F": {"R048": 2.0}}},
    "058": {"OCID": {"F": {"R058": 99.0}}, "Tenderer": {"W": {"R058": 0.0}}},
}


def docs_settings(number: str) -> CardinalSettings:
    ini = DOCS / "R" / f"{number}.ini"
    return CardinalSettings.from_ini(ini if ini.exists() else DOCS / "settings.ini")


@pytest.mark.parametrize("number", sorted(DOCS_OUTPUTS))
def test_docs_example(number: str) -> None:
    releases = load(DOCS / "R" / f"{number}.jsonl")
    assert compute_indicators(releases, docs_settings(number)) == DOCS_OUTPUTS[number]


def test_docs_examples_all_covered() -> None:
    assert sorted(path.stem for path in (DOCS / "R").glob("*.jsonl")) == sorted(DOCS_OUTPUTS)


@pytest.mark.parametrize(
    "name",
    sorted(path.name for path in DOCS.glob("*.jsonl")),
)
def test_docs_other_inputs_run(name: str) -> None:
    """The coverage and prepare examples have no ``ocid`` or no bid statuses: no results."""
    settings = CardinalSettings.from_ini(DOCS / "settings.ini")
    assert compute_indicators(load(DOCS / name), settings, include_meta=True)["Meta"] is not None
    assert compute_indicators(load(DOCS / name), settings) == {}


def test_docs_settings_ini_enables_everything() -> None:
    settings = CardinalSettings.from_ini(DOCS / "settings.ini")
    assert settings.enabled == CODES
    assert settings == CardinalSettings()


def test_meta_as_documented() -> None:
    """docs/cli/indicators/index.md: R024's Meta for the R024 fixture-like example."""
    releases = load(INDICATORS / "R024.jsonl")
    output = compute_indicators(releases, settings_from_fixture_name("R024"), include_meta=True)
    assert output["Meta"]["R024"] == {"q1": 66.6667, "q3": 100.0, "lower_fence": 16.6667}


def test_from_ini_parses_cardinal_settings() -> None:
    text = """\
currency = USD
no_price_comparison_procurement_methods = Random Selection|Sorteo de Obras

[defaults]
currency = USD

[exclusions]
procurement_method_details = EXC

[R003]
threshold = 10 # a comment
procurement_methods = open|selective

[R003.procurement_method_details]
Cotización = 7
Licitación de Seguros = 10

[R025]
percentile = 80
threshold = 0.05

[R038]
minimum_submitted_bids = 3

[R048]
digits = 3
threshold = 10
"""
    settings = CardinalSettings.from_ini(text)
    assert settings.currency == "USD"
    assert settings.no_price_comparison_procurement_methods == "Random Selection|Sorteo de Obras"
    assert settings.exclusions_procurement_method_details == "EXC"
    assert settings.enabled == ("R003", "R025", "R038", "R048")
    assert settings.r003 is not None
    assert settings.r003.threshold == 10
    assert settings.r003.procurement_methods == "open|selective"
    assert settings.r003.procurement_method_details == {
        "Cotización": 7,
        "Licitación de Seguros": 10,
    }
    assert settings.r025 == R025Settings(percentile=80, threshold=0.05)
    assert settings.r038 is not None
    assert settings.r038.minimum_submitted_bids == 3
    assert settings.r038.minimum_contracting_processes == 2
    assert settings.r048 is not None
    assert (settings.r048.digits, settings.r048.threshold) == (3, 10)
    # A subsection alone enables its indicator.
    only_details = CardinalSettings.from_ini("[R003.procurement_method_details]\nx = 5\n")
    assert only_details.enabled == ("R003",)
    # Unknown settings are errors, as with serde's deny_unknown_fields.
    with pytest.raises(ValueError, match="unknown"):
        CardinalSettings.from_ini("[R024]\npercentile = 5\n")
    with pytest.raises(ValueError, match="unknown"):
        CardinalSettings.from_ini("[R999]\n")
    with pytest.raises(ValueError, match="integer"):
        CardinalSettings.from_ini("[R035]\nthreshold = 1.5\n")


def test_defaults_are_cardinals() -> None:
    settings = CardinalSettings()
    assert settings.r003 is not None
    assert settings.r003.threshold == 15
    assert settings.r025 is not None
    assert settings.r025.percentile == 75
    assert settings.r035 is not None
    assert settings.r035.threshold == 1
    assert settings.r038 is not None
    assert (settings.r038.minimum_submitted_bids, settings.r038.minimum_contracting_processes) == (
        2,
        2,
    )
    assert settings.r048 is not None
    assert (settings.r048.digits, settings.r048.minimum_contracting_processes) == (2, 20)
    assert settings.r024 is not None
    assert settings.r024.threshold is None
    assert settings.r058 is not None
    assert settings.r058.threshold is None


def per_process_output(releases: list[Any], settings: CardinalSettings) -> dict[str, Any]:
    context = build_context(releases, settings)
    merged: dict[str, dict[str, dict[str, float]]] = {}
    for release in releases:
        for flag in flags_for_process(release, settings, context):
            assert flag.code in DESCRIPTIONS
            assert flag.description_en
            assert flag.description_zh
            merged.setdefault(flag.group, {}).setdefault(flag.subject, {})[flag.code] = flag.value
    return merged


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_flags_for_process_agrees_with_compute_indicators(name: str) -> None:
    settings = settings_from_fixture_name(name)
    releases = load(INDICATORS / f"{name}.jsonl")
    assert per_process_output(releases, settings) == compute_indicators(releases, settings)


@pytest.mark.parametrize("number", sorted(DOCS_OUTPUTS))
def test_flags_for_process_agrees_on_docs_examples(number: str) -> None:
    releases = load(DOCS / "R" / f"{number}.jsonl")
    settings = docs_settings(number)
    assert per_process_output(releases, settings) == compute_indicators(releases, settings)


def test_flags_for_process_values_and_standalone() -> None:
    releases = load(DOCS / "R" / "058.jsonl")
    settings = CardinalSettings.only("R058")
    context = build_context(releases, settings)
    (process_flag, tenderer_flag) = flags_for_process(releases[0], settings, context)
    assert (process_flag.code, process_flag.group, process_flag.subject) == ("R058", "OCID", "F")
    assert process_flag.value == 99.0
    assert process_flag.values["winner"] == "W"
    assert process_flag.values["second_lowest_amount"] == 100.0
    assert process_flag.values["upper_fence"] == pytest.approx(82.6667, abs=1e-4)
    assert (tenderer_flag.group, tenderer_flag.subject, tenderer_flag.value) == (
        "Tenderer",
        "W",
        0.0,
    )
    assert process_flag.as_dict()["description_zh"] == DESCRIPTIONS["R058"]["zh"]
    # Without a dataset, a fence-based indicator needs a fixed threshold.
    assert flags_for_process(releases[0], settings) == []
    fixed = CardinalSettings.only("R058")
    fixed.r058 = R058Settings(threshold=50.0)
    assert [f.code for f in flags_for_process(releases[0], fixed)] == ["R058", "R058"]
    # Process-local indicators need no dataset.
    (short,) = flags_for_process(load(DOCS / "R" / "003.jsonl")[0])
    assert short.values["submission_period_days"] == 1


def test_descriptions_cover_every_code() -> None:
    assert set(DESCRIPTIONS) == set(CODES)
    for code in CODES:
        assert set(DESCRIPTIONS[code]) == {"en", "zh"}


@pytest.fixture(scope="module")
def armenia() -> list[Any]:
    assert ARMENIA.exists(), f"shared data missing: {ARMENIA}"
    return load(ARMENIA)


def test_armenia_runs(armenia: list[Any]) -> None:
    assert len(armenia) == 428
    output = compute_indicators(armenia, CardinalSettings(), include_meta=True)
    counts = Counter(
        (group, code)
        for group in ("OCID", "Buyer", "ProcuringEntity", "Tenderer")
        for values in output.get(group, {}).values()
        for code in values
    )
    assert sum(counts.values()) > 0
    assert counts[("OCID", "R003")] > 0
    # flags_for_process agrees on real data too.
    settings = CardinalSettings()
    assert per_process_output(armenia, settings) == compute_indicators(armenia, settings)
