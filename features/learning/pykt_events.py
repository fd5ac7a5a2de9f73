"""pyKT CSV straight to the knowledge-tracing event frame, without the xAPI round trip.

Multi-concept responses expand to one row per concept, as ``build_events`` does for xAPI
statements, so the two routes give the same frame (``tests/learning/test_pykt.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.learning.kt_features import (
    CORRECT,
    ITEM,
    KIND,
    KP,
    MEMBER,
    MINUTES,
    ORDER,
    RESPONSE,
    STATED_DIFFICULTY,
    TIMESTAMP,
    sort_events,
)
from ingest.readers.pykt import item_ids, read_pykt


def events_from_pykt(path: Path) -> pd.DataFrame:
    """The event frame (``features.learning.kt_features.EVENT_COLUMNS``) of a pyKT CSV:
    ``member_key`` is ``member_name(uid)`` (no pseudonym: public research data)."""
    responses = read_pykt(path)
    concept_lists = responses["concepts"].str.split("_")
    repeat = concept_lists.map(len).to_numpy()
    events = pd.DataFrame(
        {
            MEMBER: np.repeat(("pykt-" + responses["uid"]).to_numpy(), repeat),
            TIMESTAMP: np.repeat(responses["time"].to_numpy(), repeat),
            ORDER: np.repeat(responses["position"].to_numpy(), repeat),
            KIND: RESPONSE,
            ITEM: np.repeat(item_ids(responses), repeat),
            KP: "c" + pd.Series(np.concatenate(concept_lists.to_numpy())),
            CORRECT: np.repeat(responses["response"].to_numpy(dtype=float), repeat),
            MINUTES: 0.0,
            STATED_DIFFICULTY: np.nan,
        }
    )
    return sort_events(events)
