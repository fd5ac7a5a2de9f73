"""Train and evaluate the bid-rigging detector on labelled bid-level data.

Usage::

    python -m training.collusion --data PATH [--data PATH2 ...] [--min-bids 3] [--folds 5]
        [--seed 0] [--out DIR] [--mlflow]

Input: one CSV of bids per data set, laid out like the García Rodríguez et al. (2022) files
in ``../shared/data/procurement/collusion/``: ``Tender`` (tender id), ``Bid_value`` (price),
``Collusive_competitor`` (1 = the bid came from a proven cartel member), optionally
``Pre-Tender Estimate (PTE)`` and ``Winner``. Other columns, including the stored screens
(CV, SPD, …), are ignored: the screens are recomputed from the prices by
``features.procurement.screens.bid_screens``.

What is done, per data set:

* unit: the tender. A tender is collusive when more than half of its bids are labelled
  collusive (``> 0.5``; a tie counts as competitive). In both published files the label is
  constant within a tender, so the rule only matters for other data.
* tenders with fewer than ``--min-bids`` bids (default 3) are dropped: with one or two bids
  most screens are undefined or constant.
* features: every column ``bid_screens`` returns (the estimate ratios only when the file has
  a pre-tender estimate); missing screens stay NaN (LightGBM routes them itself).
* models: LightGBM (200 trees, 15 leaves, learning rate 0.05, 2 threads); a logistic
  regression on the same screens (median imputation with missing-value indicators, a
  rank-based normal-quantile transform because screens such as the spread run into the
  hundreds on data-entry errors, L2 penalty); the single-screen rule "lower coefficient of
  variation = more suspicious" (score ``−bid_cv``, nothing fitted); and the majority class.
* evaluation: ``StratifiedKFold`` over tenders (one row per tender, so no tender is in both
  training and test), shuffled with ``--seed``. Per model: ROC-AUC, accuracy and balanced
  accuracy at probability 0.5, precision among the 10 % highest-scored tenders; pooled over
  the out-of-fold predictions and as mean ± sd over the folds.

Output: a markdown table printed and written to ``DIR/collusion.md`` (default
``data/reports/``), the metrics as ``DIR/collusion.json``; with ``--mlflow`` one run in the
experiment ``collusion-screens`` at ``LODESTAR_MLFLOW_TRACKING_URI`` (through ``Settings``;
default ``sqlite:///<LODESTAR_DATA_DIR>/mlflow.db``, i.e. ``sqlite:///data/mlflow.db`` from the
repository root) with the parameters, the metrics, the SHA-256 of each input file and both
reports as artifacts. No model is logged or registered: this command measures the detector by
cross-validation; fitting and registering the serving model is a separate stage.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import QuantileTransformer

from core.settings import Settings
from features.procurement.screens import BID_CV, bid_screens
from training.cli import write_report
from training.metrics.binary import (
    accuracy,
    balanced_accuracy,
    mean_and_sd,
    precision_at_k,
    roc_auc,
)

TENDER_COL = "Tender"
PRICE_COL = "Bid_value"
ESTIMATE_COL = "Pre-Tender Estimate (PTE)"
COLLUSIVE_BID_COL = "Collusive_competitor"
COLLUSIVE_SHARE_ABOVE = 0.5
"""A tender is collusive when the share of its bids labelled collusive exceeds this."""

EXPERIMENT = "collusion-screens"
DEFAULT_OUT = Path("data/reports")
TOP_SHARE = 0.10
"""Precision is reported among this share of the highest-scored tenders."""

LIGHTGBM_PARAMS: dict[str, Any] = {
    "n_estimators": 200,
    "num_leaves": 15,
    "learning_rate": 0.05,
    "num_threads": 2,
    "verbose": -1,
}

PUBLISHED_NOTE = (
    "Published reference: Huber and Imhof (2019, IJIO 65) classify more than 84 % of Swiss"
    " tenders correctly out of sample (accuracy, not ROC-AUC). Their setup differs from this"
    " one: their own sample of Swiss construction tenders from prosecuted cartel cases"
    " (collusive tenders from the cartel periods, competitive ones from after them), not this"
    " Graubünden + See-Gaster compilation by García Rodríguez et al. (2022), whose tender"
    " selection and labels differ even where the cases overlap; a wider screen"
    " set (also the mean, median, minimum, maximum and standard deviation of the bids);"
    " lasso, random forests and an ensemble rather than LightGBM; random training/test"
    " splits of tenders rather than stratified k-fold; their own minimum number of bids."
    " Compare the accuracy column, and against the majority-class row."
)

LABEL_NOTE = (
    "Labels: in both published files `Collusive_competitor` is constant within a tender; in"
    " the Swiss file it is 1 on every bid of a tender in which at least one cartel firm bid"
    " (the firm-level flag is `Collusive_competitor_original`). A collusive tender here is"
    " therefore one a cartel took part in, including incomplete cartels in which competitive"
    " outsiders also bid, whose bids dilute the screens' signal."
)


class CollusionDataError(ValueError):
    """A bid file cannot be used: a required column is missing or no tender is left."""


@dataclass
class DataSet:
    """One labelled bid file turned into one row per tender."""

    name: str
    path: Path
    sha256: str
    bid_count: int
    tender_count: int
    screens: pd.DataFrame
    collusive: pd.Series
    extra: dict[str, Any] = field(default_factory=dict)


def load_data_set(path: Path, *, min_bids: int) -> DataSet:
    """Read a bid file, screen each tender, label it, and keep tenders with ≥ ``min_bids`` bids.

    ``screens`` is indexed by tender; ``collusive`` (0/1) is aligned with it.
    """
    bids = pd.read_csv(path)
    missing = [c for c in (TENDER_COL, PRICE_COL, COLLUSIVE_BID_COL) if c not in bids.columns]
    if missing:
        raise CollusionDataError(f"{path}: missing column(s) {missing}")
    estimate_col = ESTIMATE_COL if ESTIMATE_COL in bids.columns else None
    screens = bid_screens(
        bids, tender_col=TENDER_COL, price_col=PRICE_COL, estimate_col=estimate_col
    )
    collusive_share = bids.groupby(TENDER_COL)[COLLUSIVE_BID_COL].mean().reindex(screens.index)
    collusive = (collusive_share > COLLUSIVE_SHARE_ABOVE).astype(int).rename("collusive")
    kept = screens["bid_count"] >= min_bids
    if collusive[kept].nunique() < 2:
        raise CollusionDataError(f"{path}: fewer than two classes among tenders with enough bids")
    name = path.stem.removeprefix("DB_Collusion_").removesuffix("_processed")
    return DataSet(
        name=name,
        path=path,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        bid_count=len(bids),
        tender_count=len(screens),
        screens=screens[kept],
        collusive=collusive[kept],
    )


def build_collusion_detector(*, seed: int) -> LGBMClassifier:
    """The LightGBM detector: small, because the data sets hold hundreds to thousands of rows."""
    return LGBMClassifier(**LIGHTGBM_PARAMS, random_state=seed)


def build_screen_logistic_baseline(*, seed: int) -> Pipeline:
    """Logistic regression on the screens: impute, map each screen to normal quantiles, fit."""
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=True)),
            (
                "normalise",
                QuantileTransformer(
                    n_quantiles=50, output_distribution="normal", random_state=seed
                ),
            ),
            ("classify", LogisticRegression(max_iter=2000)),
        ]
    )


def _fold_metrics(
    truth: np.ndarray, scores: np.ndarray, decisions: np.ndarray | None, *, ranks: bool
) -> dict[str, float]:
    top = max(1, round(TOP_SHARE * truth.size))
    metrics = {
        "roc_auc": roc_auc(truth, scores),
        # a constant score ranks nothing: its "top 10 %" would be the first rows of the file
        "precision_at_top_10pct": precision_at_k(truth, scores, top) if ranks else math.nan,
    }
    if decisions is not None:
        metrics["accuracy"] = accuracy(truth, decisions)
        metrics["balanced_accuracy"] = balanced_accuracy(truth, decisions)
    return metrics


MODELS: dict[str, str] = {
    "lightgbm": "LightGBM on the screens",
    "logistic_regression": "logistic regression on the screens (baseline)",
    "cv_rule": "single screen: lower CV = more suspicious (baseline)",
    "majority_class": "majority class of the training folds (baseline)",
}


def evaluate(data: DataSet, *, folds: int, seed: int) -> dict[str, Any]:
    """Cross-validate every model of ``MODELS`` over tenders; returns pooled and per-fold metrics.

    Scores are "probability collusive" (for the CV rule ``−bid_cv``, for the majority class
    the training share of collusive tenders); decisions are scores ≥ 0.5 (none for the rule).
    """
    features, truth = data.screens, data.collusive.to_numpy()
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    fitted: dict[str, Callable[[], Any]] = {
        "lightgbm": lambda: build_collusion_detector(seed=seed),
        "logistic_regression": lambda: build_screen_logistic_baseline(seed=seed),
    }
    out_of_fold = {name: np.full(truth.size, np.nan) for name in MODELS}
    per_fold: dict[str, list[dict[str, float]]] = {name: [] for name in MODELS}
    for train, test in splitter.split(features, truth):
        assert not set(features.index[train]) & set(features.index[test])
        scores: dict[str, np.ndarray] = {}
        for name, build in fitted.items():
            model = build().fit(features.iloc[train], truth[train])
            scores[name] = model.predict_proba(features.iloc[test])[:, 1]
        scores["cv_rule"] = -features[BID_CV].iloc[test].to_numpy()
        scores["majority_class"] = np.full(test.size, truth[train].mean())
        for name, score in scores.items():
            out_of_fold[name][test] = score
            decisions = None if name == "cv_rule" else (score >= 0.5).astype(int)
            per_fold[name].append(
                _fold_metrics(truth[test], score, decisions, ranks=name != "majority_class")
            )

    results: dict[str, Any] = {}
    for name in MODELS:
        score = out_of_fold[name]
        decisions = None if name == "cv_rule" else (score >= 0.5).astype(int)
        pooled = _fold_metrics(truth, score, decisions, ranks=name != "majority_class")
        summary = {
            metric: dict(
                zip(("mean", "sd"), mean_and_sd([f[metric] for f in per_fold[name]]), strict=True)
            )
            for metric in pooled
        }
        results[name] = {"pooled": pooled, "folds": summary, "per_fold": per_fold[name]}
    return results


def _cell(pooled: float | None, folds: dict[str, float] | None) -> str:
    if pooled is None or folds is None or math.isnan(pooled):
        return "—"
    return f"{pooled:.3f} ({folds['mean']:.3f} ± {folds['sd']:.3f})"


def render_markdown(report: dict[str, Any]) -> str:
    """The report as markdown: one table per data set, then the notes."""
    lines = [
        "# Bid-rigging detection with bid screens",
        "",
        f"Stratified {report['folds']}-fold cross-validation over tenders (seed {report['seed']});"
        f" tenders with at least {report['min_bids']} bids; a tender is collusive when more than"
        " half of its bids are. Cells: pooled out-of-fold value (mean ± sd over folds);"
        " accuracy and balanced accuracy at probability 0.5; precision among the 10 % of tenders"
        " scored most suspicious.",
        "",
    ]
    metrics = ["roc_auc", "accuracy", "balanced_accuracy", "precision_at_top_10pct"]
    for data in report["data_sets"]:
        lines += [
            f"## {data['name']}",
            "",
            f"{data['bids']} bids in {data['tenders']} tenders; {data['tenders_used']} tenders"
            f" with ≥ {report['min_bids']} bids, {data['collusive_tenders']} collusive"
            f" ({data['collusive_share']:.1%}). Input SHA-256 `{data['sha256'][:16]}…`.",
            f"Screens: {', '.join(data['features'])}.",
            "",
            "| model | ROC-AUC | accuracy | balanced accuracy | precision @ top 10 % |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name, label in MODELS.items():
            result = data["models"][name]
            cells = [
                _cell(result["pooled"].get(metric), result["folds"].get(metric))
                for metric in metrics
            ]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [LABEL_NOTE, "", PUBLISHED_NOTE, ""]
    return "\n".join(lines)


def _slug(name: str) -> str:
    return "".join(char if char.isalnum() or char in "-_" else "_" for char in name).lower()


def log_to_mlflow(report: dict[str, Any], files: Sequence[Path], *, tracking_uri: str) -> str:
    """Log one run (parameters, pooled metrics, fold sds, input hashes, the report files);
    returns its id. The tracking URI is set before anything else touches MLflow."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run() as run:
        mlflow.log_params(
            {
                "min_bids": report["min_bids"],
                "folds": report["folds"],
                "seed": report["seed"],
                "collusive_share_above": COLLUSIVE_SHARE_ABOVE,
                **{f"lightgbm_{key}": value for key, value in LIGHTGBM_PARAMS.items()},
            }
        )
        for data in report["data_sets"]:
            slug = _slug(data["name"])
            mlflow.log_params(
                {
                    f"{slug}.file": data["file"],
                    f"{slug}.sha256": data["sha256"],
                    f"{slug}.tenders_used": data["tenders_used"],
                }
            )
            mlflow.set_tag(f"data_version.{slug}", data["sha256"])
            for model, result in data["models"].items():
                for metric, value in result["pooled"].items():
                    if not math.isnan(value):
                        mlflow.log_metric(f"{slug}.{model}.{metric}", value)
                for metric, spread in result["folds"].items():
                    if not math.isnan(spread["sd"]):
                        mlflow.log_metric(f"{slug}.{model}.{metric}.fold_sd", spread["sd"])
        for path in files:
            mlflow.log_artifact(str(path))
        return str(run.info.run_id)


def run(paths: Sequence[Path], *, min_bids: int, folds: int, seed: int) -> dict[str, Any]:
    """Evaluate every data set; the report as plain JSON-able data."""
    data_sets = []
    for path in paths:
        data = load_data_set(path, min_bids=min_bids)
        data_sets.append(
            {
                "name": data.name,
                "file": str(path),
                "sha256": data.sha256,
                "bids": data.bid_count,
                "tenders": data.tender_count,
                "tenders_used": len(data.screens),
                "collusive_tenders": int(data.collusive.sum()),
                "collusive_share": float(data.collusive.mean()),
                "features": list(data.screens.columns),
                "models": evaluate(data, folds=folds, seed=seed),
            }
        )
    return {"min_bids": min_bids, "folds": folds, "seed": seed, "data_sets": data_sets}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training.collusion",
        description="Cross-validate the bid-rigging detector (bid screens + LightGBM) on"
        " labelled bid files, beside a logistic regression and the CV rule.",
    )
    parser.add_argument(
        "--data",
        type=Path,
        action="append",
        required=True,
        metavar="PATH",
        help="labelled bid-level CSV; repeat for several data sets",
    )
    parser.add_argument(
        "--min-bids",
        type=int,
        default=3,
        help="drop tenders with fewer bids (at least 2; default 3)",
    )
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="fold shuffling and model seed")
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help="folder for collusion.md and collusion.json (default data/reports)",
    )
    parser.add_argument(
        "--mlflow",
        action="store_true",
        help="log a run to MLflow (URI from $LODESTAR_MLFLOW_TRACKING_URI)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.min_bids < 2:
        parser.error("--min-bids must be at least 2 (the CV rule needs two bids)")
    if args.folds < 2:
        parser.error("--folds must be at least 2")
    for path in args.data:
        if not path.is_file():
            parser.error(f"no such file: {path}")
    try:
        report = run(args.data, min_bids=args.min_bids, folds=args.folds, seed=args.seed)
    except CollusionDataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    markdown = render_markdown(report)
    print(markdown)
    markdown_path, json_path = write_report(args.out, "collusion", markdown, report)
    if args.mlflow:
        tracking_uri = Settings().resolved_mlflow_tracking_uri
        run_id = log_to_mlflow(report, [markdown_path, json_path], tracking_uri=tracking_uri)
        print(f"MLflow run {run_id} in experiment {EXPERIMENT!r}")
    return 0
