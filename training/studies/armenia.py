"""Red flags and the unsupervised score on an OCDS data set without labels (Armenia's, first).

Usage::

    python -m training.studies.armenia --ocds PATH [--out DIR] [--seed 0] [--top 10]

``PATH`` is any file of OCDS compiled releases, one per line (``.jsonl`` or ``.jsonl.gz``),
such as ``../shared/data/procurement/ocds_armenia/armenia_armeps_tenders_prepared.jsonl.gz``.
Nothing is stored and nothing is learnt from labels: there are none.

What runs:

* Cardinal's red flags: ``features.procurement.redflags.compute_indicators`` over the file with
  the default ``CardinalSettings`` (all eleven indicators, Cardinal's defaults; main currency
  the first one observed), exactly as ``ocdscardinal indicators`` would. Per indicator: the
  contracting processes flagged (Cardinal's ``OCID`` group) and the organisations flagged
  (``Buyer``, ``ProcuringEntity`` and ``Tenderer`` groups; R025, R038 and R048 are only about
  organisations; R024, R028, R030, R035 and R058 also flag the tenderers involved).
* The unsupervised score: the file is flattened by the OCDS reader (``read_ocds``; its
  quarantine is counted, never silently dropped) into the store's tables, indexed by
  ``ProcurementHistory.from_frames`` and turned into the process features of
  ``build_process_features``, each as of its own decision date. An isolation forest
  (``models.procurement.model.IsolationScorer``) is fitted on every process and scores
  each in 0..1 (higher = more unusual); without labels there is no test split to keep apart.

Which features. Amounts keep their currency (Armenia: AMD) and are never converted, so the
features defined against CNY lines (the approval thresholds, the 2 million CNY tendering
line, split purchases, the log10 CNY estimate) are left out; so are categorical features and
``supplier_known``. There is no supplier register: every tenderer and supplier named in the
file is taken as known (so the winner-history features are computed from the file's own
history) and the related-bidder features see only the contact-point telephones in the file.
Telephones are fingerprinted with a random key made for the run and discarded: matches hold
within one run only. Features with fewer than two distinct values in the data set are
dropped (they cannot isolate anything); the report lists what was used and what was dropped.

Output: a markdown report printed and written to ``DIR/<file stem>.md`` (default
``data/reports/``) and the same numbers as ``DIR/<file stem>.json``: per indicator the
processes and organisations flagged, the score's distribution, the mean score of flagged and
unflagged processes per indicator, and the ``--top`` processes by score with their flags.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import math
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from core.security import PersonalData
from core.settings import Keyring
from features.procurement.build import build_process_features
from features.procurement.history import HistoryRules, ProcurementHistory
from features.procurement.redflags import (
    CODES,
    TITLES,
    CardinalSettings,
    compute_indicators,
    iter_jsonl,
)
from features.procurement.specs import CATEGORICAL_FEATURES, FEATURE_NAMES
from ingest.readers.ocds import TABLE_COLUMNS, read_ocds
from models.procurement.model import IsolationScorer
from training.cli import write_report

DEFAULT_OUT = Path("data/reports")
ORGANISATION_GROUPS: tuple[str, ...] = ("Buyer", "ProcuringEntity", "Tenderer")

CURRENCY_BOUND_FEATURES: frozenset[str] = frozenset(
    {
        "estimate_log10_cny",
        "tender_period_below_legal_minimum",
        "single_source_above_approval_threshold",
        "single_source_above_legal_threshold",
        "order_value_to_approval_threshold",
        "split_purchase_count_30d",
        "split_purchase_sum_to_threshold_30d",
        "split_purchase_over_threshold_30d",
    }
)
"""Features defined against CNY amounts (thresholds or the log of a CNY estimate): meaningless
for a data set in another currency, which is never converted."""

NOT_APPLICABLE_FEATURES: frozenset[str] = frozenset({"supplier_known"})
"""Constant by construction here: every organisation in the file is taken as known."""

SCORE_QUANTILES: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)


class OcdsDataError(ValueError):
    """The file holds no usable compiled release."""


# --------------------------------------------------------------------------------------------
# Red flags


def cardinal_counts(indicators: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per indicator code (all of ``CODES``): processes flagged and organisations flagged per
    group, from ``compute_indicators``'s output."""
    counts: dict[str, dict[str, Any]] = {}
    for code in CODES:
        processes = sum(1 for flags in indicators.get("OCID", {}).values() if code in flags)
        organisations = {
            group: sum(1 for flags in indicators.get(group, {}).values() if code in flags)
            for group in ORGANISATION_GROUPS
        }
        counts[code] = {
            "title": TITLES[code]["en"],
            "title_zh": TITLES[code]["zh"],
            "processes": processes,
            "organisations": organisations,
            "organisations_total": sum(organisations.values()),
        }
    return counts


def process_flags(indicators: dict[str, Any]) -> dict[str, list[str]]:
    """Cardinal codes per flagged process (``OCID`` group), sorted."""
    return {ocid: sorted(flags) for ocid, flags in indicators.get("OCID", {}).items()}


# --------------------------------------------------------------------------------------------
# Flattening and features


def ephemeral_personal_data() -> PersonalData:
    """Keys that exist for one run: contact telephones are fingerprinted (for matching within
    the file) and contact names encrypted (never read), with keys nobody keeps."""

    def key() -> bytes:
        return os.urandom(32)

    return PersonalData(
        Keyring(
            pseudonym_key=key(),
            field_keys={"run": key()},
            active_field_key_id="run",
            store_key=base64.b64encode(key()).decode(),
            token_signing_key=key(),
        )
    )


def as_store_returns(frame: pd.DataFrame) -> pd.DataFrame:
    """A reader's frame (Arrow columns typed from ``store.schema``) with the dtypes a store
    query returns, which is what ``ProcurementHistory.from_frames`` reads: DOUBLE as float64
    (null = NaN), INTEGER/BIGINT as nullable integers (null = <NA>, never a float NaN),
    TIMESTAMP as datetime64 (null = NaT), anything else as Python objects (null = None)."""
    columns: dict[str, pd.Series] = {}
    for name, series in frame.items():
        arrow_type = series.dtype.pyarrow_dtype if isinstance(series.dtype, pd.ArrowDtype) else None
        if arrow_type is None:
            columns[str(name)] = series
        elif pa.types.is_floating(arrow_type):
            columns[str(name)] = series.astype("float64")
        elif pa.types.is_integer(arrow_type):
            integers = pd.Int64Dtype() if arrow_type.bit_width > 32 else pd.Int32Dtype()
            columns[str(name)] = series.astype(integers)
        elif pa.types.is_timestamp(arrow_type):
            columns[str(name)] = series.astype("datetime64[us]")
        else:
            columns[str(name)] = series.astype(object).where(series.notna(), None)
    return pd.DataFrame(columns, index=frame.index)


def flatten_ocds(path: Path) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    """The file's compiled releases as the store's procurement tables (``TABLE_COLUMNS``, with
    the dtypes of ``as_store_returns``), and the reader's counts: records_in, accepted,
    quarantined, and ``warnings`` (tolerated oddities, as in an ingestion's report)."""
    parts: dict[str, list[pd.DataFrame]] = {table: [] for table in TABLE_COLUMNS}
    counts = Counter[str]()
    for chunk in read_ocds(path, ephemeral_personal_data()):
        chunk.check()
        counts.update(
            records_in=chunk.records_in,
            accepted=chunk.accepted,
            quarantined=len(chunk.quarantined),
            warnings=chunk.warnings.total(),
        )
        for table, frame in chunk.tables.items():
            if table in parts and not frame.empty:
                parts[table].append(as_store_returns(frame))
    frames = {
        table: (
            pd.concat(pieces, ignore_index=True)
            if pieces
            else pd.DataFrame(columns=list(TABLE_COLUMNS[table]))
        )
        for table, pieces in parts.items()
    }
    keys = ("records_in", "accepted", "quarantined", "warnings")
    return frames, {key: int(counts[key]) for key in keys}


def organisations_as_register(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """A register of every tenderer and supplier named in the file, without identifiers."""
    ids: set[str] = set()
    for table, column in (("bids", "tenderer_ids"), ("awards", "supplier_ids")):
        for values in frames[table][column].dropna():
            ids.update(str(value) for value in values)
    return pd.DataFrame({"supplier_id": sorted(ids)})


def main_currency(frames: dict[str, pd.DataFrame]) -> str | None:
    """The most frequent currency of the bids, awards and estimates."""
    currencies = pd.concat(
        [
            frames["bids"]["value_currency"],
            frames["awards"]["value_currency"],
            frames["processes"]["tender_value_currency"],
        ]
    ).dropna()
    return None if currencies.empty else str(currencies.value_counts().index[0])


def unsupervised_feature_names(features: pd.DataFrame) -> tuple[list[str], dict[str, str]]:
    """The features the isolation forest reads here, and the dropped ones with the reason."""
    used: list[str] = []
    dropped: dict[str, str] = {}
    for name in FEATURE_NAMES:
        if name in CATEGORICAL_FEATURES:
            dropped[name] = "categorical"
        elif name in CURRENCY_BOUND_FEATURES:
            dropped[name] = "defined against CNY amounts"
        elif name in NOT_APPLICABLE_FEATURES:
            dropped[name] = "constant by construction (no supplier register)"
        else:
            values = features[name].to_numpy(dtype=float)
            distinct = np.unique(values[np.isfinite(values)])
            if len(distinct) < 2:
                dropped[name] = "fewer than two distinct values in this data set"
            else:
                used.append(name)
    return used, dropped


def unsupervised_scores(
    features: pd.DataFrame, feature_names: Sequence[str], *, seed: int
) -> np.ndarray:
    """Isolation-forest score in 0..1 per row, fitted on all rows (there are no labels)."""
    matrix = features[list(feature_names)].to_numpy(dtype=float)
    scorer = IsolationScorer(seed=seed).fit(matrix, columns=range(len(feature_names)))
    return scorer.score(matrix)


# --------------------------------------------------------------------------------------------
# The run


def run(path: Path, *, seed: int = 0, top: int = 10) -> dict[str, Any]:
    """Cardinal's indicators and the unsupervised score on one OCDS file (module docstring)."""
    indicators = compute_indicators(iter_jsonl(path), CardinalSettings())
    flags_by_process = process_flags(indicators)

    frames, read_counts = flatten_ocds(path)
    if frames["processes"].empty:
        raise OcdsDataError(f"{path}: no compiled release could be read ({read_counts})")
    frames["suppliers"] = organisations_as_register(frames)
    currency = main_currency(frames)
    history = ProcurementHistory.from_frames(frames, rules=HistoryRules(currency=currency or ""))
    features = build_process_features(history)
    used, dropped = unsupervised_feature_names(features)
    if not used:
        raise OcdsDataError(f"{path}: no feature varies across the processes")
    scores = unsupervised_scores(features, used, seed=seed)

    processes = frames["processes"].drop_duplicates("ocid").set_index("ocid")
    scored = pd.DataFrame(
        {
            "ocid": features["ocid"].to_numpy(),
            "unsupervised_score": scores,
            "bid_count": features["bid_count"].to_numpy(),
        }
    )
    scored["flags"] = [flags_by_process.get(ocid, []) for ocid in scored["ocid"]]
    scored["buyer"] = scored["ocid"].map(processes["buyer_name"])
    scored["title"] = scored["ocid"].map(processes["title"])
    scored["procurement_method_details"] = scored["ocid"].map(
        processes["procurement_method_details"]
    )
    scored["tender_value"] = scored["ocid"].map(processes["tender_value_amount"])
    scored["currency"] = scored["ocid"].map(processes["tender_value_currency"])
    ranked = scored.sort_values(["unsupervised_score", "ocid"], ascending=[False, True])

    quantiles = np.quantile(scores, SCORE_QUANTILES)
    by_flag: dict[str, dict[str, float]] = {}
    for code in CODES:
        flagged = scored["flags"].map(lambda codes, code=code: code in codes).to_numpy()
        if flagged.any():
            by_flag[code] = {
                "flagged_mean": float(scores[flagged].mean()),
                "unflagged_mean": float(scores[~flagged].mean()) if (~flagged).any() else math.nan,
            }
    return {
        "source": {
            "path": str(path),
            "file": path.name,
            "sha256": _sha256(path),
            **read_counts,
            "processes": len(features),
            "processes_with_any_flag": int(sum(1 for codes in flags_by_process.values() if codes)),
            "main_currency": currency,
        },
        "indicators": cardinal_counts(indicators),
        "unsupervised": {
            "model": "isolation forest (IsolationScorer, 100 trees, 256 samples per tree)",
            "seed": seed,
            "features": used,
            "dropped": dropped,
            "distribution": {
                "count": len(scores),
                "mean": float(scores.mean()),
                **{
                    _quantile_name(q): float(v)
                    for q, v in zip(SCORE_QUANTILES, quantiles, strict=True)
                },
            },
            "mean_by_flag": by_flag,
        },
        "top": [
            {
                "ocid": str(row["ocid"]),
                "unsupervised_score": float(row["unsupervised_score"]),
                "flags": list(row["flags"]),
                "bid_count": _number(row["bid_count"]),
                "tender_value": _number(row["tender_value"]),
                "currency": row["currency"],
                "procurement_method_details": row["procurement_method_details"],
                "buyer": row["buyer"],
                "title": row["title"],
            }
            for row in ranked.head(top).to_dict("records")
        ],
        "scores": {
            str(ocid): float(score)
            for ocid, score in zip(scored["ocid"], scored["unsupervised_score"], strict=True)
        },
    }


def _quantile_name(q: float) -> str:
    return {0.0: "min", 0.5: "median", 1.0: "max"}.get(q, f"p{round(q * 100)}")


def _number(value: Any) -> float | None:
    if value is None or pd.isna(value):
        return None
    return float(value)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Report


def render_markdown(report: dict[str, Any]) -> str:
    source = report["source"]
    unsupervised = report["unsupervised"]
    distribution = unsupervised["distribution"]
    lines = [
        f"# Red flags and unsupervised score: {source['file']}",
        "",
        f"{source['processes']:,} contracting processes ({source['accepted']:,} compiled releases "
        f"read, {source['quarantined']:,} quarantined); amounts in "
        f"{source['main_currency'] or 'unknown currency'}, not converted. "
        f"{source['processes_with_any_flag']:,} processes have at least one Cardinal flag. "
        f"Input SHA-256 `{source['sha256'][:16]}…`.",
        "",
        "## Cardinal red flags (default settings)",
        "",
        "| indicator | processes | organisations (buyer / procuring entity / tenderer) | "
        "mean score flagged | mean score not flagged |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for code, row in report["indicators"].items():
        orgs = row["organisations"]
        means = unsupervised["mean_by_flag"].get(code, {})
        lines.append(
            f"| {code} {row['title']} | {row['processes']} | {row['organisations_total']} "
            f"({orgs['Buyer']} / {orgs['ProcuringEntity']} / {orgs['Tenderer']}) | "
            f"{_fmt(means.get('flagged_mean'))} | {_fmt(means.get('unflagged_mean'))} |"
        )
    lines += [
        "",
        "## Unsupervised score (isolation forest, 0..1, higher = more unusual)",
        "",
        "| processes | mean | min | p25 | median | p75 | p90 | p99 | max |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        "| "
        + " | ".join(
            [f"{distribution['count']:,}"]
            + [
                _fmt(distribution[key])
                for key in ("mean", "min", "p25", "median", "p75", "p90", "p99", "max")
            ]
        )
        + " |",
        "",
        f"Features used ({len(unsupervised['features'])}): "
        + ", ".join(f"`{name}`" for name in unsupervised["features"])
        + ".",
        "",
        "Left out: "
        + "; ".join(
            f"{reason}: " + ", ".join(f"`{n}`" for n in names)
            for reason, names in _by_reason(unsupervised["dropped"]).items()
        )
        + ".",
        "",
        f"## Top {len(report['top'])} processes by unsupervised score",
        "",
        "| ocid | score | Cardinal flags | bids | estimate | method | buyer |",
        "| --- | ---: | --- | ---: | ---: | --- | --- |",
    ]
    for row in report["top"]:
        estimate = "–" if row["tender_value"] is None else f"{row['tender_value']:,.0f}"
        bids = "–" if row["bid_count"] is None else f"{row['bid_count']:.0f}"
        lines.append(
            f"| {row['ocid']} | {row['unsupervised_score']:.3f} | "
            f"{', '.join(row['flags']) or '–'} | {bids} | {estimate} {row['currency'] or ''} | "
            f"{row['procurement_method_details'] or '–'} | {row['buyer'] or '–'} |"
        )
    return "\n".join(lines) + "\n"


def _by_reason(dropped: dict[str, str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, reason in dropped.items():
        grouped.setdefault(reason, []).append(name)
    return grouped


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.3f}"


def report_stem(path: Path) -> str:
    """``armenia.jsonl.gz`` → ``armenia``."""
    name = path.name
    for suffix in (".gz", ".jsonl", ".json"):
        name = name.removesuffix(suffix)
    return name


# --------------------------------------------------------------------------------------------
# Command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training.studies.armenia",
        description="Cardinal red flags and the unsupervised (isolation forest) score on an"
        " OCDS compiled-release file, with a report of what fired.",
    )
    parser.add_argument(
        "--ocds",
        type=Path,
        required=True,
        metavar="PATH",
        help="OCDS compiled releases, one per line (.jsonl or .jsonl.gz)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help="folder for <file stem>.md and .json (default data/reports)",
    )
    parser.add_argument("--seed", type=int, default=0, help="isolation forest seed (default 0)")
    parser.add_argument("--top", type=int, default=10, help="processes listed (default 10)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.ocds.is_file():
        parser.error(f"no such file: {args.ocds}")
    try:
        report = run(args.ocds, seed=args.seed, top=args.top)
    except OcdsDataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    markdown = render_markdown(report)
    print(markdown)
    write_report(args.out, report_stem(args.ocds), markdown, report)
    return 0


if __name__ == "__main__":
    from core.settings import owner_only_files

    with owner_only_files():
        raise SystemExit(main())
