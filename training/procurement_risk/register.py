"""MLflow signature and the champion gate of the procurement risk model."""

from __future__ import annotations

from typing import Any

import pandas as pd

from features.procurement.specs import CATEGORICAL_FEATURES, FEATURES
from models.procurement.model import FeatureFrameError, RiskModel
from training.metrics.procurement import pr_auc
from training.procurement_risk.labels import LABEL
from training.procurement_risk.options import REGISTERED_MODEL
from training.tracking import ChampionCannotScoreError, GateDecision, compare_with_champion


def signature_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input as a client sends it: numbers as float64, categories as text."""
    columns: dict[str, Any] = {}
    for name in FEATURES:
        if name in CATEGORICAL_FEATURES:
            columns[name] = frame[name].astype(object).where(frame[name].notna(), None)
        else:
            columns[name] = frame[name].astype("float64")
    return pd.DataFrame(columns).reset_index(drop=True)


def champion_gate(
    client: Any,
    test: pd.DataFrame,
    challenger_pr_auc: float,
    *,
    min_improvement: float,
) -> GateDecision:
    """Compare the challenger with the current champion on the same test rows (PR-AUC)."""

    def champion_pr_auc(loaded: Any) -> float:
        champion_model: RiskModel = loaded.unwrap_python_model().risk_model
        try:
            scores = champion_model.predict_proba(test)
        except FeatureFrameError as error:
            raise ChampionCannotScoreError(str(error)) from error
        return pr_auc(test[LABEL].to_numpy(dtype=float), scores)

    return compare_with_champion(
        client,
        REGISTERED_MODEL,
        challenger_pr_auc,
        champion_pr_auc,
        min_improvement=min_improvement,
        metric_name="PR-AUC",
    )
