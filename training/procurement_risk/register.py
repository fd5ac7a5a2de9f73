"""MLflow registration and the champion gate.

MLflow: experiment ``procurement-risk``; parameters, metrics, the data version (sha256 of the
feature frame and the labels), plots (SHAP summary from ``shap.TreeExplainer`` on a sample,
precision–recall, reliability), the summary table, and the model as a pyfunc
(``models.procurement.pyfunc.RiskPyfunc``; it answers probabilities) with its signature and
input example, registered as ``procurement-risk``. The new version gets the alias
``challenger``. Gate: the current ``champion`` is loaded and scored on this run's test months;
the challenger takes ``champion`` (and drops ``challenger``) only if there is no champion, or
the champion cannot score today's features, or the challenger's PR-AUC beats the champion's by
more than ``--min-improvement`` (default 0: a tie keeps the champion). The decision is logged
as tags ``gate.*`` on the run and the model version. The feature-defining settings the
features were built with (approval thresholds, legal tender line, minimum tender days) are
saved in the model's metadata under ``feature_settings`` and logged as
``feature_settings.json``: the service computes this model's features with them.
"""

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
