"""The candidates for the registered ``collusion`` model and their leave-one-market-out
evaluation *as served*: each candidate is fitted on the other markets, wrapped in the pyfunc
the service loads (``models.collusion.pyfunc.CollusionPyfunc``) and given the held-out
market's bid rows, exactly as a caller would; its per-tender answers are then scored against
the labels. What competes is what would answer, not a screen table prepared for it.

Candidates (``CANDIDATES``), all reading only the ``SERVED_RANKED`` screens, the ones the
point-in-time feature keeps for the group's earlier tenders (a candidate the service could
not run cannot be champion): the sign-consistent logistic, LightGBM, the coefficient-of-
variation rule and the best single screen chosen on the training markets.

The gate figure (``GATE_METRIC``) is the mean ROC-AUC over the labelled training markets,
each held out in turn. Holdout-only markets (the demo world's planted rings) are scored by
candidates fitted on every training market and reported beside it, never averaged into it:
choosing the champion on them would be tuning on them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.collusion.detector import DEFAULT_ROUNDS, CollusionDetector
from models.collusion.pyfunc import CollusionPyfunc
from training.collusion.markets import Market
from training.collusion.transfer import REVIEW_SHARE, scores_metrics

GATE_METRIC = "lomo_mean_roc_auc"
CANDIDATES: dict[str, tuple[str, str]] = {
    "consistent_logistic": ("consistent_logistic", "served_ranked"),
    "lightgbm": ("lightgbm", "served_ranked"),
    "cv_rule": ("screen_rule", "cv"),
    "best_single_screen": ("screen_rule", "served_ranked"),
}
"""Candidate name → (detector kind, feature set)."""
DESCRIPTIONS = {
    "consistent_logistic": "logistic on the ranked screens every training market agrees on",
    "lightgbm": "LightGBM on the ranked screens",
    "cv_rule": "CV rule: lower coefficient of variation = more suspicious",
    "best_single_screen": "best single ranked screen, chosen on the training markets",
}


def candidate_detector(
    name: str, *, rounds: int = DEFAULT_ROUNDS, seed: int = 0
) -> CollusionDetector:
    kind, feature_set = CANDIDATES[name]
    return CollusionDetector(kind=kind, feature_set=feature_set, rounds=rounds, seed=seed)


def candidate_name(detector: CollusionDetector) -> str:
    """The candidate a detector's configuration is (its kind and feature set)."""
    for name, config in CANDIDATES.items():
        if config == (detector.kind, detector.feature_set):
            return name
    return f"{detector.kind}_{detector.feature_set}"


def _stack(markets: Sequence[Market]) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    screens = pd.concat([m.screens.reset_index(drop=True) for m in markets], ignore_index=True)
    labels = np.concatenate([np.asarray(m.labels) for m in markets])
    names = np.concatenate([np.full(len(m.screens), m.name) for m in markets])
    return screens, labels, names


def fit_on(detector: CollusionDetector, markets: Sequence[Market]) -> CollusionDetector:
    screens, labels, names = _stack(markets)
    return detector.fit(screens, labels, markets=names)


def served_scores(detector: CollusionDetector, market: Market) -> pd.Series:
    """The pyfunc's answer for every tender of ``market`` given its bid rows (ranked within
    the market, as ``CollusionPyfunc.predict`` does), aligned with ``market.screens``."""
    if market.bids is None:
        raise ValueError(f"market {market.name} has no bid rows to serve")
    served = CollusionPyfunc()
    served.detector = detector
    answer = served.predict(None, market.bids.assign(market=market.name))
    return pd.Series(answer["probability"].to_numpy(), index=answer["tender"]).reindex(
        market.screens.index
    )


@dataclass
class CandidateReport:
    """``lomo[market][candidate]``: metrics of the candidate fitted without that market;
    ``holdout`` the same for markets never trained on. ``trained_on`` names the markets."""

    trained_on: list[str]
    lomo: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    holdout: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def gate_metric(self, candidate: str) -> float:
        values = [self.lomo[m][candidate]["roc_auc"] for m in self.lomo]
        finite = [v for v in values if not math.isnan(v)]
        return float(np.mean(finite)) if finite else math.nan

    def best(self) -> str:
        candidates = list(next(iter(self.lomo.values())))
        scored = [(self.gate_metric(c), -k, c) for k, c in enumerate(candidates)]
        return max(scored, key=lambda t: (-math.inf if math.isnan(t[0]) else t[0], t[1]))[2]

    def to_dict(self) -> dict[str, Any]:
        candidates = list(next(iter(self.lomo.values()))) if self.lomo else []
        return {
            "trained_on": self.trained_on,
            "leave_one_market_out": self.lomo,
            "holdout_only": self.holdout,
            GATE_METRIC: {c: self.gate_metric(c) for c in candidates},
            "champion_candidate": self.best() if self.lomo else None,
            "notes": self.notes,
        }


def _metrics(market: Market, scores: pd.Series, detector: CollusionDetector) -> dict[str, Any]:
    labels = np.asarray(market.labels)
    values = scores.fillna(0.5).to_numpy(dtype=float)
    return scores_metrics(labels, values, probabilities=detector.kind != "screen_rule")


def evaluate_candidates(
    markets: Sequence[Market],
    *,
    holdout: Sequence[Market] = (),
    candidates: Sequence[str] = tuple(CANDIDATES),
    rounds: int = DEFAULT_ROUNDS,
    seed: int = 0,
) -> CandidateReport:
    """Every candidate, served, on every market it was not fitted on (module docstring)."""
    if len(markets) < 2:
        raise ValueError("the champion gate needs at least two labelled training markets")
    report = CandidateReport(trained_on=[m.name for m in markets])
    for held_out in markets:
        others = [m for m in markets if m is not held_out]
        report.lomo[held_out.name] = {}
        for name in candidates:
            detector = fit_on(candidate_detector(name, rounds=rounds, seed=seed), others)
            scores = served_scores(detector, held_out)
            report.lomo[held_out.name][name] = _metrics(held_out, scores, detector)
    for name in candidates:
        detector = fit_on(candidate_detector(name, rounds=rounds, seed=seed), markets)
        report.notes[name] = describe(detector)
        for market in holdout:
            scores = served_scores(detector, market)
            report.holdout.setdefault(market.name, {})[name] = _metrics(market, scores, detector)
    return report


def describe(detector: CollusionDetector) -> str:
    """What a fitted candidate reads: the screen a rule chose, the logistic's kept screens."""
    if detector.rule_ is not None and detector.rule_.column_ is not None:
        sign = "+" if detector.rule_.sign_ > 0 else "−"
        return sign + detector.rule_.column_.removesuffix("_market_rank")
    if detector.consistent_ is not None:
        kept = ", ".join(
            f"{'+' if s > 0 else '−'}{c.removesuffix('_market_rank')}"
            for c, s in zip(detector.consistent_.columns_, detector.consistent_.signs_, strict=True)
        )
        return kept or "no screen agreed"
    return ""


def _fmt(value: float) -> str:
    return "—" if isinstance(value, float) and math.isnan(value) else f"{value:.3f}"


def render_candidates(report: CandidateReport, *, champion: str | None = None) -> str:
    """Markdown: one row per (market, candidate), then the gate figure per candidate."""
    lines = [
        "| market | candidate | trained on | ROC-AUC | PR-AUC | balanced accuracy |"
        f" recall @ top {REVIEW_SHARE:.0%} |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for results, held_out_only in ((report.lomo, False), (report.holdout, True)):
        for market, by_candidate in results.items():
            trained = (
                report.trained_on
                if held_out_only
                else [m for m in report.trained_on if m != market]
            )
            for name, r in by_candidate.items():
                lines.append(
                    f"| {market}{' (never trained on)' if held_out_only else ''} | {name} |"
                    f" {', '.join(trained)} | {_fmt(r['roc_auc'])} | {_fmt(r['pr_auc'])} |"
                    f" {_fmt(r['balanced_accuracy'])} | {_fmt(r['recall_at_review'])} |"
                )
    lines += ["", f"| candidate | {GATE_METRIC} | fitted on all training markets, reads |"]
    lines.append("| --- | --- | --- |")
    for name in next(iter(report.lomo.values())):
        mark = " **champion**" if name == champion else ""
        lines.append(
            f"| {name}{mark} ({DESCRIPTIONS.get(name, name)}) |"
            f" {_fmt(report.gate_metric(name))} | {report.notes.get(name, '')} |"
        )
    return "\n".join(lines)
