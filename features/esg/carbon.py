"""Carbon intensity of a supplier: its own report where given, else a spend-based estimate.

The estimate uses the US EPA supply-chain greenhouse-gas emission factors (USEEIO v1.2, kg CO2e
per 2021 US dollar at purchaser price, *with* margins) for the NAICS industry each of the
supplier's material categories belongs to (``CATEGORY_NAICS``), averaged over the categories
(unweighted: the register does not split a supplier's sales by category), and converted to kg
CO2e per CNY with ``CNY_PER_USD_2021``. The file is read from where it lies (the shared data
folder, or a path given by the caller); it is never copied into the repository.

Assumptions, stated because they move the number: a US input-output factor stands in for a
Chinese producer (Chinese grid and process emissions are mostly higher, so the estimate is a
floor rather than a best guess); the exchange rate is the 2021 annual average (the factors
are in 2021 dollars), settable per call; a category not in the table (or a supplier with no
category) has no estimate (NaN), never zero.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

FACTORS_FILE = "epa_useeio_supply_chain_ghg_factors_v1.2_naics_2021usd.csv"
FACTORS_ENV = "LODESTAR_EMISSION_FACTORS_CSV"
CNY_PER_USD_2021 = 6.45
"""2021 average exchange rate (CNY per USD): the factors are in 2021 dollars."""

NAICS_COLUMN = "2017 NAICS Code"
FACTOR_COLUMN = "Supply Chain Emission Factors with Margins"

# category code (world.suppliers_gen.CATEGORIES) -> (NAICS 2017 code, why)
CATEGORY_NAICS: dict[str, tuple[str, str]] = {
    "M01": ("333131", "hydraulic roof supports: mining machinery and equipment"),
    "M02": ("333131", "shearer picks: parts of mining machinery"),
    "M03": ("326220", "conveyor belts: rubber and plastics hoses and belting"),
    "M04": ("332722", "roof bolts: bolts, nuts, screws, rivets and washers"),
    "M05": ("332618", "anchor cables: other fabricated wire products"),
    "M06": ("335929", "mining cables: other communication and energy wire"),
    "M07": ("335312", "explosion-proof motors: motors and generators"),
    "M08": ("335313", "mining switchgear: switchgear and switchboard apparatus"),
    "M09": ("325920", "mine explosives: explosives manufacturing"),
    "M10": ("325998", "emulsion concentrate: other miscellaneous chemical products"),
    "M11": ("324191", "lubricants: petroleum lubricating oil and grease"),
    "M12": ("332618", "wire rope: other fabricated wire products"),
    "M13": ("331110", "steel: iron and steel mills and ferroalloys"),
    "M14": ("327310", "cement manufacturing"),
    "M15": ("326211", "tyres: tire manufacturing"),
    "M16": ("339113", "protective equipment: surgical appliances and supplies (incl. PPE)"),
    "M17": ("333131", "spare parts: mostly mining machinery parts"),
    "M18": ("541512", "IT services: computer systems design services"),
    "M19": ("811310", "maintenance: commercial and industrial machinery repair"),
}


def default_factors_path() -> Path:
    """``$LODESTAR_EMISSION_FACTORS_CSV``, else ``<repo>/../shared/data/esg/<FACTORS_FILE>``."""
    explicit = os.environ.get(FACTORS_ENV)
    if explicit:
        return Path(explicit)
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "esg" / FACTORS_FILE


def read_naics_factors(path: Path) -> dict[str, float]:
    """NAICS code -> kg CO2e per 2021 USD (with margins), from the EPA CSV."""
    with Path(path).open(encoding="utf-8-sig", newline="") as handle:
        return {
            row[NAICS_COLUMN].strip(): float(row[FACTOR_COLUMN])
            for row in csv.DictReader(handle)
            if row.get(NAICS_COLUMN) and row.get(FACTOR_COLUMN)
        }


def category_factors(
    naics_factors: Mapping[str, float],
    *,
    cny_per_usd: float = CNY_PER_USD_2021,
    mapping: Mapping[str, tuple[str, str]] = CATEGORY_NAICS,
) -> dict[str, float]:
    """Category code -> kg CO2e per CNY (categories whose NAICS code is not in the file are
    left out, so they estimate as NaN)."""
    if not cny_per_usd > 0:
        raise ValueError(f"cny_per_usd must be positive, got {cny_per_usd}")
    return {
        category: naics_factors[naics] / cny_per_usd
        for category, (naics, _) in mapping.items()
        if naics in naics_factors
    }


def load_category_factors(
    path: Path | None = None, *, cny_per_usd: float = CNY_PER_USD_2021
) -> dict[str, float]:
    """``category_factors`` of the EPA file at ``path`` (default ``default_factors_path()``)."""
    return category_factors(
        read_naics_factors(path or default_factors_path()), cny_per_usd=cny_per_usd
    )


def spend_based_intensity(categories: Iterable[str], factors: Mapping[str, float]) -> float:
    """Mean kg CO2e per CNY over the categories; NaN if any category is unknown (a partial
    estimate would understate) or there is none."""
    values = [factors.get(category, math.nan) for category in categories]
    if not values or any(math.isnan(value) for value in values):
        return math.nan
    return sum(values) / len(values)


def carbon_intensity(
    reported: float | None, categories: Iterable[str], factors: Mapping[str, float]
) -> tuple[float, bool]:
    """(kg CO2e per CNY, reported?): the report when given and finite, else the estimate."""
    if reported is not None and not math.isnan(reported):
        return float(reported), True
    return spend_based_intensity(categories, factors), False
