"""The MLflow face of ``EsgModel``: a ``PythonModel`` whose ``predict`` answers score and band.

Per row of a supplier feature frame (``features.esg.build.supplier_features``; extra columns
are ignored) it answers ``score`` (100 × calibrated probability), ``probability`` and
``band`` (``unknown`` when ``has_any_history`` is 0 or absent). No explanations and no
knock-outs: the service unwraps ``.esg_model`` (``loaded.unwrap_python_model().esg_model``)
and screens with ``models.esg.ranking.screen_suppliers`` (the gates of
``features.esg.knockouts``, then ``EsgModel.assess_rows``).

It lives in ``models/`` because the training run that logs it and the service that loads it
both import it. The artefact is ``EsgModel.save``'s JSON and LightGBM text, under the artifact
key ``ARTIFACT_KEY``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from models.esg.model import EsgModel

ARTIFACT_KEY = "esg_model"
OUTPUT_COLUMNS = ("score", "probability", "band")


def predictions_frame(model: EsgModel, frame: pd.DataFrame) -> pd.DataFrame:
    """The pyfunc's answer for ``frame``: one row per input row, ``OUTPUT_COLUMNS``."""
    probability = model.predict_proba(frame)
    scores = 100.0 * probability
    return pd.DataFrame(
        {"score": scores, "probability": probability, "band": model.bands(frame, scores)},
        index=frame.index,
    )


class EsgPyfunc(PythonModel):
    """MLflow pyfunc around a saved ``EsgModel`` (artifact ``ARTIFACT_KEY``)."""

    def __init__(self) -> None:
        self.esg_model: EsgModel | None = None

    def load_context(self, context: Any) -> None:
        self.esg_model = EsgModel.load(Path(context.artifacts[ARTIFACT_KEY]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        # A DataFrame hint is one MLflow infers no schema from (the logged signature stays
        # the one given at log time), and it silences MLflow's "add type hints" warning.
        if self.esg_model is None:
            raise RuntimeError("EsgPyfunc.predict before load_context")
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return predictions_frame(self.esg_model, frame)
