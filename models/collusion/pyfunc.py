"""The MLflow face of ``CollusionDetector``: bid rows in, one probability per tender out.

Input: a bid-level frame with ``tender`` and ``price`` (and optionally ``market``: ranks are
taken within each market of the batch; and ``reference``: bids marked true are the market's
earlier tenders, which every other tender is ranked against instead, so that one tender can
be scored alone). Output: ``tender``, ``market``, ``bid_count``,
``probability`` (probability that the tender's bid pattern resembles the proven cartels the
detector was trained on). The artefact is ``CollusionDetector.save``'s folder under the
artifact key ``ARTIFACT_KEY``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from models.collusion.detector import CollusionDetector

ARTIFACT_KEY = "collusion_detector"


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
