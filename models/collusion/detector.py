"""``CollusionDetector``: a classifier over a named set of collusion screens, fitted on markets
with proven cartels and applied to markets without any. ``kind`` is ``lightgbm`` (LightGBM on
``FEATURE_SETS[feature_set]``), ``consistent_logistic``
(``models.collusion.consistent.ConsistentLogistic`` on the ranked screens whose direction
every training market agrees on) or ``screen_rule`` (``models.collusion.rule.ScreenRule``:
one ranked screen of the set, the best on the training markets; the set ``cv`` makes it the
coefficient-of-variation rule).

Input of ``fit``/``predict_proba``: per-tender screens as made by
``features.procurement.collusion.collusion_screens`` + ``with_market_ranks`` (one row per
tender; extra columns ignored). ``score_bids`` goes from a bid-level frame (``tender``,
``price``, optional ``market``) to one probability per tender: the ranks are taken within
each market of the frame itself, so a batch should hold a market's worth of tenders (ranks
of a handful of tenders are coarse; no label is used); or, when the frame marks some bids
as ``reference``, against those reference tenders only (one tender at a time).

Training weights: each training market weighs the same in total, and within a market both
classes weigh the same, so the Swiss file (3,812 tenders, 77 % collusive) does not drown the
Brazilian one (100 tenders, 32 %) and the detector's 0.5 is not set by any one market's
cartel share.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.procurement.collusion import (
    FEATURE_SETS,
    collusion_screens,
    with_market_ranks,
    with_reference_ranks,
)
from models.collusion.consistent import ConsistentLogistic
from models.collusion.rule import ScreenRule

MODEL_FILE = "collusion_detector.json"
REFERENCE_COL = "reference"
BOOSTER_FILE = "booster.txt"
DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "num_leaves": 7,
    "learning_rate": 0.05,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "num_threads": 2,
    "verbose": -1,
}
DEFAULT_ROUNDS = 200


class NotFittedError(RuntimeError):
    """``predict_proba`` before ``fit``."""


def market_balanced_weights(labels: np.ndarray, markets: np.ndarray) -> np.ndarray:
    """Weights summing to 1 per market, split equally between its two classes (a market with
    one class gives that class the market's whole weight)."""
    weights = np.zeros(labels.size)
    for market in np.unique(markets):
        in_market = markets == market
        classes = np.unique(labels[in_market])
        for label in classes:
            rows = in_market & (labels == label)
            weights[rows] = 1.0 / (len(classes) * rows.sum())
    return weights * labels.size / weights.sum()


KINDS = ("lightgbm", "consistent_logistic", "screen_rule")
CV_RULE_SIGN = -1.0
"""The CV rule's direction, fixed: bids closer together than usual are suspicious."""


@dataclass
class CollusionDetector:
    kind: str = "lightgbm"
    feature_set: str = "invariant_ranked"
    params: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_PARAMS))
    rounds: int = DEFAULT_ROUNDS
    seed: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    booster_: lgb.Booster | None = None
    consistent_: ConsistentLogistic | None = None
    rule_: ScreenRule | None = None

    @property
    def features(self) -> list[str]:
        return list(FEATURE_SETS[self.feature_set])

    def fit(
        self, screens: pd.DataFrame, labels: np.ndarray, *, markets: np.ndarray
    ) -> CollusionDetector:
        if self.kind not in KINDS:
            raise ValueError(f"unknown detector kind {self.kind!r}; one of {KINDS}")
        if self.kind == "screen_rule":
            sign = CV_RULE_SIGN if self.feature_set == "cv" else None
            self.rule_ = ScreenRule(candidates=tuple(self.features), sign=sign).fit(
                screens, np.asarray(labels), markets=np.asarray(markets)
            )
            return self
        weights = market_balanced_weights(np.asarray(labels), np.asarray(markets))
        if self.kind == "consistent_logistic":
            self.consistent_ = ConsistentLogistic(candidates=tuple(self.features)).fit(
                screens, np.asarray(labels), markets=np.asarray(markets), sample_weight=weights
            )
            return self
        data = lgb.Dataset(
            screens[self.features].astype(float),
            label=np.asarray(labels, dtype=float),
            weight=weights,
            free_raw_data=True,
        )
        params = {**self.params, "seed": self.seed}
        self.booster_ = lgb.train(params, data, num_boost_round=self.rounds)
        return self

    def predict_proba(self, screens: pd.DataFrame) -> np.ndarray:
        """Probability collusive per row of ``screens`` (shape (rows,))."""
        if self.consistent_ is not None:
            return self.consistent_.predict_proba(screens)
        if self.rule_ is not None:
            return self.rule_.predict_proba(screens)
        if self.booster_ is None:
            raise NotFittedError("CollusionDetector.predict_proba before fit")
        return np.asarray(self.booster_.predict(screens[self.features].astype(float)))

    def score_bids(self, bids: pd.DataFrame) -> pd.DataFrame:
        """Bid rows (``tender``, ``price``, optional ``market``, optional boolean
        ``reference``) → one row per scored tender: ``tender``, ``market``, ``bid_count``,
        ``probability``.

        Without ``reference`` the screens are ranked within each market of the batch. With
        it, the bids marked true are the market's reference tenders (e.g. its earlier ones):
        they are not scored, and every other tender is ranked against them alone
        (``with_reference_ranks``), so that one tender can be scored at a time."""
        if REFERENCE_COL in bids.columns:
            marked = bids[REFERENCE_COL].astype(bool)
            return self._score_against(bids[~marked], bids[marked])
        market_of = (
            bids.groupby("tender")["market"].first()
            if "market" in bids.columns
            else pd.Series("scored", index=pd.Index(bids["tender"].unique()))
        )
        screens = collusion_screens(bids, tender_col="tender", price_col="price")
        market = market_of.reindex(screens.index).astype(str)
        screens = with_market_ranks(screens, market=market)
        return self._scores(screens, market)

    def _score_against(self, bids: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
        if reference["tender"].isin(set(bids["tender"])).any():
            raise ValueError("a tender is both scored and part of the reference")
        screens = collusion_screens(bids, tender_col="tender", price_col="price")
        known = collusion_screens(reference, tender_col="tender", price_col="price")
        market = (
            bids.groupby("tender")["market"].first().reindex(screens.index).astype(str)
            if "market" in bids.columns
            else pd.Series("scored", index=screens.index)
        )
        return self._scores(with_reference_ranks(screens, reference=known), market)

    def _scores(self, screens: pd.DataFrame, market: pd.Series) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "tender": screens.index,
                "market": market.to_numpy(),
                "bid_count": screens["bid_count"].to_numpy(),
                "probability": self.predict_proba(screens),
            }
        )

    def save(self, folder: Path) -> Path:
        """Write ``collusion_detector.json`` and ``booster.txt`` into ``folder``."""
        if self.booster_ is None and self.consistent_ is None and self.rule_ is None:
            raise NotFittedError("CollusionDetector.save before fit")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.booster_ is not None:
            (folder / BOOSTER_FILE).write_text(self.booster_.model_to_string(), encoding="utf-8")
        meta = {
            "kind": self.kind,
            "consistent": self.consistent_.to_dict() if self.consistent_ is not None else None,
            "rule": self.rule_.to_dict() if self.rule_ is not None else None,
            "feature_set": self.feature_set,
            "params": self.params,
            "rounds": self.rounds,
            "seed": self.seed,
            "metadata": self.metadata,
        }
        (folder / MODEL_FILE).write_text(json.dumps(meta, allow_nan=False), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: Path) -> CollusionDetector:
        folder = Path(folder)
        meta = json.loads((folder / MODEL_FILE).read_text(encoding="utf-8"))
        consistent = meta.pop("consistent")
        rule = meta.pop("rule", None)
        booster_file = folder / BOOSTER_FILE
        return cls(
            **meta,
            booster_=(
                lgb.Booster(model_str=booster_file.read_text(encoding="utf-8"))
                if booster_file.is_file()
                else None
            ),
            consistent_=ConsistentLogistic.from_dict(consistent) if consistent else None,
            rule_=ScreenRule.from_dict(rule) if rule else None,
        )
