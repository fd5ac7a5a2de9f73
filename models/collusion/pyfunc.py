"""The MLflow face of ``CollusionDetector``: bid rows in, one probability per tender out.

Input: a bid-level frame with ``tender`` and ``price`` (and optionally ``market``: ranks are
taken within each market of the batch; and ``reference``: bids marked true are the market's
earlier tenders, which every other tender is ranked against instead, so that one tender can
be scored alone). Output: ``tender``, ``market``, ``bid_count``,
``probability`` (probability that the tender's bid pattern resembles the proven cartels the
detector was trained on). The artefact is ``CollusionDetector.save``'s folder under the
artifact key ``ARTIFACT_KEY``.

The procurement-risk model depends on one version of this model: its ``collusion_score``
feature is that version's answer (``features.procurement.collusion.point_in_time``). Training
saves the version in the risk model's metadata under ``RISK_METADATA_KEY`` and the service
loads that version (``load_detector``) to compute the feature, so both compute it alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from models.collusion.detector import CollusionDetector

ARTIFACT_KEY = "collusion_detector"
REGISTERED_MODEL = "collusion"
RISK_METADATA_KEY = "collusion_model"
"""Risk-model metadata key: ``{"name": "collusion", "version": "<n>"}`` (absent or None: the
risk model was trained without a detector, its feature is the CV rule)."""


class CollusionPyfunc(PythonModel):
    def __init__(self) -> None:
        self.detector: CollusionDetector | None = None

    def load_context(self, context: Any) -> None:
        self.detector = CollusionDetector.load(Path(context.artifacts[ARTIFACT_KEY]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        if self.detector is None:
            raise RuntimeError("CollusionPyfunc.predict before load_context")
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return self.detector.score_bids(frame)


def load_detector(tracking_uri: str, version: str) -> CollusionDetector:
    """``models:/collusion/<version>``'s detector (the registry at ``tracking_uri``)."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    loaded = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}/{version}")
    detector = getattr(loaded.unwrap_python_model(), "detector", None)
    if not isinstance(detector, CollusionDetector):
        raise TypeError(f"model {REGISTERED_MODEL} version {version} is not a CollusionDetector")
    return detector


def risk_model_collusion_version(metadata: dict[str, Any]) -> str | None:
    """The collusion version a risk model's features were computed with (None: the CV rule)."""
    saved = metadata.get(RISK_METADATA_KEY)
    return str(saved["version"]) if isinstance(saved, dict) and saved.get("version") else None
