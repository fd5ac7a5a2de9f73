"""The report-kind classifier as an MLflow pyfunc: a frame with a ``text`` column in, one
probability column per kind (``FEEDBACK_KINDS`` order) and the most probable ``kind`` out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel, PythonModelContext
from sklearn.pipeline import Pipeline

from store.schema import FEEDBACK_KINDS

ARTIFACT = "classifier"
TEXT = "text"
KIND = "kind"


def kind_probabilities(classifier: Pipeline, texts: list[str]) -> pd.DataFrame:
    """Probability per kind for each text, every kind a column (0 for a kind the model never
    saw), plus ``kind``, the most probable."""
    raw = classifier.predict_proba(texts)
    classes = list(classifier.classes_)
    frame = pd.DataFrame(
        {kind: raw[:, classes.index(kind)] if kind in classes else 0.0 for kind in FEEDBACK_KINDS}
    )
    frame[KIND] = np.asarray(FEEDBACK_KINDS, dtype=object)[
        frame[list(FEEDBACK_KINDS)].to_numpy().argmax(axis=1)
    ]
    return frame


def save_classifier(classifier: Pipeline, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "classifier.joblib"
    joblib.dump(classifier, path)
    return path


class FeedbackClassifierPyfunc(PythonModel):
    def load_context(self, context: PythonModelContext) -> None:
        self.classifier: Pipeline = joblib.load(context.artifacts[ARTIFACT])

    def predict(
        self,
        context: PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        return kind_probabilities(self.classifier, model_input[TEXT].astype(str).tolist())
