"""The MLflow face of ``MasteryModel``: a ``PythonModel`` that answers P(next answer right).

``predict`` takes an event frame (``features.learning.kt_features.EVENT_COLUMNS``; ``kind``
``response``, ``study`` or ``probe``) and answers, for each ``response``/``probe`` row, the
probability that it is right given the learner's earlier rows, as a frame with
``p_correct`` (indexed like the sorted events). The service unwraps ``.mastery_model``
(``loaded.unwrap_python_model().mastery_model``) for ``mastery_profile`` and the check-in
detector. The artefact is ``MasteryModel.save``'s JSON and LightGBM text, under the artifact
key ``ARTIFACT_KEY``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from features.learning.kt_features import TIMESTAMP
from models.learning.mastery import MasteryModel

ARTIFACT_KEY = "mastery_model"


def predictions_frame(model: MasteryModel, events: pd.DataFrame) -> pd.DataFrame:
    """The pyfunc's answer: one ``p_correct`` row per ``response``/``probe`` event."""
    frame = events.assign(**{TIMESTAMP: pd.to_datetime(events[TIMESTAMP])})
    return model.predict_next(frame).to_frame()


class MasteryPyfunc(PythonModel):
    """MLflow pyfunc around a saved ``MasteryModel`` (artifact ``ARTIFACT_KEY``)."""

    def __init__(self) -> None:
        self.mastery_model: MasteryModel | None = None

    def load_context(self, context: Any) -> None:
        self.mastery_model = MasteryModel.load(Path(context.artifacts[ARTIFACT_KEY]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        # A DataFrame hint is one MLflow infers no schema from (the logged signature stays
        # the one given at log time), and it silences MLflow's "add type hints" warning.
        if self.mastery_model is None:
            raise RuntimeError("MasteryPyfunc.predict before load_context")
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return predictions_frame(self.mastery_model, frame)
