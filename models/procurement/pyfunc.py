"""The MLflow face of ``RiskModel``: a ``PythonModel`` whose ``predict`` answers probabilities.

A logged ``LGBMClassifier`` pyfunc would answer class labels; this wrapper answers, per row of
a feature frame (the ``FEATURES`` columns; extra columns are ignored), the calibrated
``probability``, the ``warning_level``, the ``unsupervised_score`` and the categories it had
not seen in training (``unseen_categories``, a JSON object, ``{}`` when none), so that
``mlflow models serve`` returns something an auditor can use. It gives no explanations: the
service unwraps ``.risk_model`` (``loaded.unwrap_python_model().risk_model``) and calls
``RiskModel.assess``.

The class lives in ``models/`` because both the training run that logs it and the service
that loads it import it (``training/`` and ``serving/`` never import each other). The
artefact itself is ``RiskModel.save``'s JSON and LightGBM text, under the artifact key
``ARTIFACT_KEY``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from models.procurement.model import RiskModel

ARTIFACT_KEY = "risk_model"
OUTPUT_COLUMNS = ("probability", "warning_level", "unsupervised_score", "unseen_categories")


def predictions_frame(model: RiskModel, frame: pd.DataFrame) -> pd.DataFrame:
    """The pyfunc's answer for ``frame``: one row per input row, ``OUTPUT_COLUMNS``."""
    matrix = model.matrix(frame)
    probability = model.calibrator.transform(model.raw_score_matrix(matrix))
    unseen = json.dumps(model.unseen_categories(frame), ensure_ascii=False, sort_keys=True)
    return pd.DataFrame(
        {
            "probability": probability,
            "warning_level": model.warning_level(probability).astype(object),
            "unsupervised_score": model.unsupervised_score(frame)
            if model.anomaly is not None
            else np.full(len(frame), np.nan),
            "unseen_categories": [unseen] * len(frame),
        },
        index=frame.index,
    )


class RiskPyfunc(PythonModel):
    """MLflow pyfunc around a saved ``RiskModel`` (artifact ``ARTIFACT_KEY``)."""

    def __init__(self) -> None:
        self.risk_model: RiskModel | None = None

    def load_context(self, context: Any) -> None:
        self.risk_model = RiskModel.load(Path(context.artifacts[ARTIFACT_KEY]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        # A DataFrame hint is one MLflow infers no schema from (the logged signature stays
        # the one given at log time), and it silences MLflow's "add type hints" warning.
        if self.risk_model is None:
            raise RuntimeError("RiskPyfunc.predict before load_context")
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return predictions_frame(self.risk_model, frame)
