"""Transfer evaluation of the bid-rigging detector: leave one market out.

For every labelled market, each model is fitted on the *other* markets and scored on the
held-out one, beside the usual within-market cross-validation (stratified k-fold over the
tenders of one market) and beside single screens. A model is only better if it is better on
markets it did not see: ``lomo_mean_roc_auc`` is the mean ROC-AUC over the held-out markets.
This table compares every model on screen tables; the registry's champion gate
(``training.collusion.champion``) runs the candidates the service can run as served pyfuncs.

Models (``MODEL_SPECS``): LightGBM (``models.collusion.detector.CollusionDetector``) on each
named feature set of ``features.procurement.collusion.FEATURE_SETS`` — ``baseline`` is today's
detector's screens, ``set`` the permutation-invariant sorted relative bid vector with pooled
ranked statistics — and screen rules that fit nothing: ``cv_rule`` (lower coefficient of
variation = more suspicious) and ``best_single_screen`` (the screen and direction with the
highest mean ROC-AUC over the *training* markets, applied to the held-out one; within a
market, chosen on the training folds).

Metrics per held-out market: ROC-AUC, PR-AUC (average precision), accuracy and balanced
accuracy at probability 0.5 (none for rules: their scores are not probabilities), and the
recall among the ``REVIEW_SHARE`` highest-scored tenders (a reviewer's capacity).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from features.procurement.collusion import FEATURE_SETS, INVARIANT, RANKED
from features.procurement.screens import BID_COUNT, BID_CV
from models.collusion.detector import DEFAULT_ROUNDS, CollusionDetector
from training.collusion.markets import Market
from training.metrics.binary import accuracy, balanced_accuracy, recall_at_k, roc_auc
from training.metrics.procurement import pr_auc

REVIEW_SHARE = 0.05
"""Share of a market's tenders a reviewer can examine: recall is measured at this capacity."""
LIGHTGBM_SETS = ("baseline", "invariant", "invariant_ranked", "ranked", "set")
RULES = ("cv_rule", "best_single_screen")
MODEL_SPECS: dict[str, str] = {
    **{f"lightgbm_{name}": f"LightGBM on the {name} screens" for name in LIGHTGBM_SETS},
    "consistent_logistic": "logistic on the ranked screens every training market agrees on",
    "cv_rule": "single screen: lower CV = more suspicious",
    "best_single_screen": "best single screen, chosen on the training markets",
}
MODEL_SPECS["lightgbm_baseline"] = "LightGBM on today's screens (baseline)"
MODEL_SPECS["lightgbm_set"] = "LightGBM on the sorted relative bid vector + ranked screens (set)"
SINGLE_SCREENS = tuple(c for c in (*INVARIANT, *RANKED) if c != BID_COUNT)


@dataclass(frozen=True)
class EvaluationOptions:
    rounds: int = DEFAULT_ROUNDS
    folds: int = 5
    seed: int = 0
    models: tuple[str, ...] = tuple(MODEL_SPECS)


def scores_metrics(
    labels: np.ndarray, scores: np.ndarray, *, probabilities: bool
) -> dict[str, float]:
    """ROC-AUC, PR-AUC, recall at the review capacity, and (for probabilities) accuracy and
    balanced accuracy at 0.5; NaN where undefined."""
    capacity = max(1, round(REVIEW_SHARE * labels.size))
    metrics = {
        "roc_auc": roc_auc(labels, scores),
        "pr_auc": pr_auc(labels, scores),
        "recall_at_review": recall_at_k(labels, scores, capacity),
        "accuracy": math.nan,
        "balanced_accuracy": math.nan,
    }
    if probabilities:
        decisions = (scores >= 0.5).astype(int)
        metrics["accuracy"] = accuracy(labels, decisions)
        metrics["balanced_accuracy"] = balanced_accuracy(labels, decisions)
    return metrics


def choose_single_screen(
    screens: pd.DataFrame, labels: np.ndarray, markets: np.ndarray
) -> tuple[str, float]:
    """The screen and sign (+1: higher = more suspicious) with the best mean ROC-AUC over the
    given markets; NaN screen values count as the market's median."""
    best: tuple[float, str, float] = (-1.0, BID_CV, -1.0)
    for column in SINGLE_SCREENS:
        if column not in screens:
            continue
        aucs = []
        for market in np.unique(markets):
            rows = markets == market
            values = screens.loc[rows, column]
            aucs.append(roc_auc(labels[rows], values.fillna(values.median()).to_numpy()))
        auc = float(np.nanmean(aucs)) if not all(math.isnan(a) for a in aucs) else math.nan
        if math.isnan(auc):
            continue
        sign = 1.0 if auc >= 0.5 else -1.0
        strength = max(auc, 1.0 - auc)
        if strength > best[0]:
            best = (strength, column, sign)
    return best[1], best[2]


def _rule_scores(screens: pd.DataFrame, column: str, sign: float) -> np.ndarray:
    values = screens[column]
    return sign * values.fillna(values.median()).to_numpy(dtype=float)


def fit_and_score(
    model: str,
    train: pd.DataFrame,
    train_labels: np.ndarray,
    train_markets: np.ndarray,
    test: pd.DataFrame,
    options: EvaluationOptions,
) -> tuple[np.ndarray, bool, str]:
    """Scores of ``test`` by ``model`` fitted on ``train``; whether they are probabilities;
    a note (the screen a rule chose)."""
    if model.startswith("lightgbm_"):
        detector = CollusionDetector(
            feature_set=model.removeprefix("lightgbm_"), rounds=options.rounds, seed=options.seed
        )
        detector.fit(train, train_labels, markets=train_markets)
        return detector.predict_proba(test), True, ""
    if model == "consistent_logistic":
        detector = CollusionDetector(kind=model, feature_set="ranked", seed=options.seed)
        detector.fit(train, train_labels, markets=train_markets)
        assert detector.consistent_ is not None
        kept = ", ".join(
            f"{'+' if sign > 0 else '−'}{column.removesuffix('_market_rank')}"
            for column, sign in zip(
                detector.consistent_.columns_, detector.consistent_.signs_, strict=True
            )
        )
        return detector.predict_proba(test), True, kept or "no screen agreed"
    if model == "cv_rule":
        return _rule_scores(test, BID_CV, -1.0), False, BID_CV
    column, sign = choose_single_screen(train, train_labels, train_markets)
    return _rule_scores(test, column, sign), False, f"{'+' if sign > 0 else '−'}{column}"


@dataclass
class TransferReport:
    markets: list[dict[str, Any]] = field(default_factory=list)
    lomo: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    within: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def lomo_mean(self, model: str, metric: str = "roc_auc") -> float:
        values = [self.lomo[m][model][metric] for m in self.lomo]
        finite = [v for v in values if not math.isnan(v)]
        return float(np.mean(finite)) if finite else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "options": self.options,
            "markets": self.markets,
            "leave_one_market_out": self.lomo,
            "within_market_cv": self.within,
            "lomo_mean_roc_auc": {m: self.lomo_mean(m) for m in self.options["models"]},
        }


def _stack(markets: Sequence[Market]) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    screens = pd.concat([m.screens.reset_index(drop=True) for m in markets], ignore_index=True)
    labels = np.concatenate([np.asarray(m.labels) for m in markets])
    names = np.concatenate([np.full(len(m.screens), m.name) for m in markets])
    return screens, labels, names


def leave_one_market_out(
    markets: Sequence[Market],
    options: EvaluationOptions,
    *,
    holdout_only: Sequence[Market] = (),
) -> dict[str, dict[str, dict[str, Any]]]:
    """``{held-out market: {model: metrics (+ "note")}}``. Each of ``markets`` is scored by
    models fitted on the others; each of ``holdout_only`` by models fitted on all of
    ``markets`` (it is never trained on). Needs two markets in all."""
    if len(markets) + len(holdout_only) < 2 or not markets:
        raise ValueError("leave one market out needs at least two labelled markets")
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for held_out in [*markets, *holdout_only]:
        others = [m for m in markets if m is not held_out]
        if not others:
            continue
        train, train_labels, train_markets = _stack(others)
        labels = np.asarray(held_out.labels)
        out[held_out.name] = {}
        for model in options.models:
            scores, probabilities, note = fit_and_score(
                model, train, train_labels, train_markets, held_out.screens, options
            )
            metrics: dict[str, Any] = scores_metrics(labels, scores, probabilities=probabilities)
            metrics["note"] = note
            out[held_out.name][model] = metrics
    return out


def within_market_cv(market: Market, options: EvaluationOptions) -> dict[str, dict[str, Any]]:
    """Pooled out-of-fold metrics of every model inside one market (stratified k-fold)."""
    labels = np.asarray(market.labels)
    names = np.full(labels.size, market.name)
    splitter = StratifiedKFold(n_splits=options.folds, shuffle=True, random_state=options.seed)
    out_of_fold = {model: np.full(labels.size, np.nan) for model in options.models}
    probabilities = dict.fromkeys(options.models, True)
    for train, test in splitter.split(market.screens, labels):
        for model in options.models:
            scores, is_probability, _ = fit_and_score(
                model,
                market.screens.iloc[train],
                labels[train],
                names[train],
                market.screens.iloc[test],
                options,
            )
            # a rule's scores are ranks within its fold only when its screen is fold-free:
            # CV and every screen are per tender, so pooling folds is sound
            out_of_fold[model][test] = scores
            probabilities[model] = is_probability
    return {
        model: scores_metrics(labels, out_of_fold[model], probabilities=probabilities[model])
        for model in options.models
    }


def evaluate_transfer(
    markets: Sequence[Market],
    options: EvaluationOptions,
    *,
    holdout_only: Sequence[Market] = (),
    within: bool = True,
) -> TransferReport:
    report = TransferReport(
        options={
            "rounds": options.rounds,
            "folds": options.folds,
            "seed": options.seed,
            "models": list(options.models),
            "review_share": REVIEW_SHARE,
            "feature_sets": {name: list(cols) for name, cols in FEATURE_SETS.items()},
        }
    )
    for market in [*markets, *holdout_only]:
        report.markets.append(
            {
                "name": market.name,
                "trained_on_in_lomo": market not in holdout_only,
                "source": str(market.source),
                "tenders": len(market.screens),
                "collusive": int(np.sum(np.asarray(market.labels))),
                "collusive_share": float(np.mean(np.asarray(market.labels))),
            }
        )
    report.lomo = leave_one_market_out(markets, options, holdout_only=holdout_only)
    if within:
        report.within = {m.name: within_market_cv(m, options) for m in [*markets, *holdout_only]}
    return report


def _fmt(value: float) -> str:
    return (
        "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"
    )


def render_transfer(report: TransferReport) -> str:
    """Markdown: the leave-one-market-out table, then within-market CV, then notes."""
    models = report.options["models"]
    lines = [
        "| held-out market | model | ROC-AUC | PR-AUC | accuracy | balanced accuracy |"
        f" recall @ top {REVIEW_SHARE:.0%} | within-market CV ROC-AUC |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for market, results in report.lomo.items():
        for model in models:
            r = results[model]
            label = MODEL_SPECS[model] + (
                f" ({r['note']})" if r.get("note") and model != "cv_rule" else ""
            )
            within = report.within.get(market, {}).get(model, {}).get("roc_auc", math.nan)
            lines.append(
                f"| {market} | {label} | {_fmt(r['roc_auc'])} | {_fmt(r['pr_auc'])} |"
                f" {_fmt(r['accuracy'])} | {_fmt(r['balanced_accuracy'])} |"
                f" {_fmt(r['recall_at_review'])} | {_fmt(within)} |"
            )
    lines += [
        "",
        "| model | mean LOMO ROC-AUC | mean LOMO PR-AUC | mean LOMO balanced accuracy |",
        "| --- | --- | --- | --- |",
    ]
    for model in models:
        lines.append(
            f"| {MODEL_SPECS[model]} | {_fmt(report.lomo_mean(model))} |"
            f" {_fmt(report.lomo_mean(model, 'pr_auc'))} |"
            f" {_fmt(report.lomo_mean(model, 'balanced_accuracy'))} |"
        )
    markets = ", ".join(
        f"{m['name']} {m['tenders']} tenders ({m['collusive_share']:.1%} collusive)"
        for m in report.markets
    )
    lines += [
        "",
        f"Markets: {markets}. LOMO: fitted on the other markets, scored on the held-out one;"
        f" within-market CV: stratified {report.options['folds']}-fold over its tenders;"
        f" LightGBM {report.options['rounds']} rounds, seed {report.options['seed']}.",
    ]
    return "\n".join(lines)
