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
  contracting process, each with its code, English and Chinese description and values;
* ``process_evidence(release, settings)`` returns one process's OCID-level flags with their
  figures and the winner/second-lowest pair; ``ProcessEvidence.as_of`` decides R024 and R058
  against fences of earlier processes (the point-in-time form the risk features use).

Where Cardinal is followed (paths are in cardinal-rs):

* ``src/lib.rs`` ``Indicators::run``: a line is skipped unless it is an object with a string
  ``ocid``, ``/tender/status`` is not ``cancelled`` and ``/tender/procurementMethodDetails``
  is not in ``[exclusions] procurement_method_details``; indicators run only if their section
  is in the settings file; results are set per group (``OCID``, ``Buyer``,
  ``ProcuringEntity``, ``Tenderer``) and empty groups are dropped.
* ``src/indicators/mod.rs``: settings structures, the ``set_result``/``set_meta`` macros and
  ``Fraction`` (a mediant: numerators and denominators are summed across processes).
* ``src/indicators/util.rs`` ``SecondLowestBidRatio``: the winner/second-lowest ratio used by
  R024 and R058; ``src/indicators/r0NN.rs`` each indicator. Here: ``r0NN_<what it
  detects>.py`` per indicator, its settings beside it; ``util.py`` the shared helpers;
  ``settings.py`` the global settings; ``run.py`` the run over a dataset and the per-process
  form; ``flag.py`` the codes, titles and ``RedFlag``.
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

from features.procurement.redflags.flag import CODES, DESCRIPTIONS, GROUPS, TITLES, RedFlag
from features.procurement.redflags.process_evidence import ProcessEvidence, process_evidence
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
from features.procurement.redflags.run import (
    CardinalContext,
    build_context,
    compute_indicators,
    flags_for_process,
)
from features.procurement.redflags.settings import CardinalSettings
from features.procurement.redflags.util import iter_jsonl

__all__ = [
    "CODES",
    "DESCRIPTIONS",
    "GROUPS",
    "TITLES",
    "CardinalContext",
    "CardinalSettings",
    "ProcessEvidence",
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
    "process_evidence",
]
