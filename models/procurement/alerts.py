"""Warnings as ``alerts`` rows: one row per process the model warns about, with its model.

``alert_id`` is the sha256 of the model name, version and ocid: the same model version
scoring the same process again adds nothing (a reviewer's status is kept), and a new version
adds its own row beside the old one, so the history of a warning keeps both versions. Used by
batch scoring (``training.procurement_risk score``) and by the service as tenders arrive.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from features.procurement.redflags import DESCRIPTIONS, TITLES
from features.procurement.specs import FEATURES
from models.procurement.model import NO_WARNING, WARNING_LEVELS, RiskModel
from store.queries.procurement import ALERT_FIELDS

OCID = "ocid"
DECISION_DATE = "decision_date"
SCORE_CHUNK_ROWS = 5_000
REASONS_PER_ALERT = 5
ALERT_COLUMNS = ALERT_FIELDS  # the alerts table's columns, in its order (store.queries)


def alert_id(model_name: str, model_version: str, ocid: str) -> str:
    """Stable id of a warning: the same model version and process give the same id."""
    return hashlib.sha256(f"{model_name}\x1f{model_version}\x1f{ocid}".encode()).hexdigest()


def levels_at_or_above(level: str) -> tuple[str, ...]:
    """The warning levels from red down to ``level`` (``"yellow"``: all three)."""
    if level not in WARNING_LEVELS:
        raise ValueError(f"unknown warning level {level!r}; one of {', '.join(WARNING_LEVELS)}")
    return WARNING_LEVELS[: WARNING_LEVELS.index(level) + 1]


def red_flag_columns() -> dict[str, str]:
    """Red-flag indicator features by Cardinal code (``flag_r018_single_bid`` → ``R018``)."""
    prefixes = {f"flag_{code.lower()}_": code for code in TITLES}
    return {
        name: code
        for name in FEATURES
        for prefix, code in prefixes.items()
        if name.startswith(prefix)
    }


def fired_red_flags(row: pd.Series) -> list[dict[str, Any]]:
    """The red-flag features set in one feature row, with Cardinal's titles and descriptions."""
    flags = []
    for column, code in red_flag_columns().items():
        value = row[column]
        if value is None or pd.isna(value) or float(value) <= 0:
            continue
        flags.append(
            {
                "code": code,
                "feature": column,
                "value": float(value),
                "title_en": TITLES[code]["en"],
                "title_zh": TITLES[code]["zh"],
                "description_en": DESCRIPTIONS[code]["en"],
                "description_zh": DESCRIPTIONS[code]["zh"],
            }
        )
    return flags


def _as_list(value: Any) -> list[Any]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def alerts_frame(
    model: RiskModel,
    frame: pd.DataFrame,
    *,
    model_name: str,
    model_version: str,
    scored_at: datetime,
    on_chunk: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """The ``alerts`` rows (warning level other than none) for the processes in ``frame``
    (rows of ``features.procurement.build.feature_frame``), columns ``ALERT_COLUMNS``."""
    rows: list[dict[str, Any]] = []
    for start in range(0, len(frame), SCORE_CHUNK_ROWS):
        chunk = frame.iloc[start : start + SCORE_CHUNK_ROWS]
        matrix = model.matrix(chunk)
        probability = model.calibrator.transform(model.raw_score_matrix(matrix))
        levels = model.warning_level(probability)
        alerted = np.flatnonzero(levels != NO_WARNING)
        if not len(alerted):  # LightGBM cannot explain zero rows
            if on_chunk is not None:
                on_chunk(len(chunk))
            continue
        unsupervised = model.unsupervised_score_matrix(matrix[alerted])
        # explanations (SHAP, then sentences) only for the warnings, not for every process
        reasons = model.reasons_from_contributions(
            chunk.iloc[alerted],
            model.contributions_matrix(matrix[alerted]),
            k=REASONS_PER_ALERT,
        )
        for position, i in enumerate(alerted):
            row = chunk.iloc[i]
            rows.append(
                {
                    "alert_id": alert_id(model_name, model_version, row[OCID]),
                    "ocid": row[OCID],
                    "decision_date": pd.Timestamp(row[DECISION_DATE]).to_pydatetime(),
                    "buyer_id": row["buyer_id"],
                    "supplier_ids": [str(s) for s in _as_list(row["supplier_ids"])],
                    "probability": float(probability[i]),
                    "unsupervised_score": float(unsupervised[position]),
                    "warning_level": str(levels[i]),
                    "red_flags": json.dumps(fired_red_flags(row), ensure_ascii=False),
                    "reasons": json.dumps(
                        [reason.as_dict() for reason in reasons[position]], ensure_ascii=False
                    ),
                    "model_name": model_name,
                    "model_version": model_version,
                    "scored_at": scored_at,
                    "status": "open",
                }
            )
        if on_chunk is not None:
            on_chunk(len(chunk))
    return pd.DataFrame(rows, columns=list(ALERT_COLUMNS))
