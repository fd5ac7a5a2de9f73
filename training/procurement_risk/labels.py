"""Labels from audit outcomes, attached to the feature frame with each row's split part."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from models.procurement.alerts import DECISION_DATE, OCID
from store.database import StoreReader
from training.procurement_risk.split import TimeSplit

LABEL = "label"
LABELLED_AT = "labelled_at"
SCHEME = "scheme"


def read_audit_outcomes(store: StoreReader) -> pd.DataFrame:
    return store.query("SELECT ocid, finding, scheme, confirmed_at FROM audit_outcomes")


def labels_from_outcomes(outcomes: pd.DataFrame, *, known_by: date | None = None) -> pd.DataFrame:
    """One row per labelled process: ``ocid``, ``label`` (1 confirmed, 0 dismissed),
    ``labelled_at`` (date of that verdict) and ``scheme``.

    The label is the latest decisive verdict (confirmed or dismissed; a confirmed and a
    dismissed on the same day count as confirmed); ``needs_information`` decides nothing.
    With ``known_by``, only verdicts confirmed before that date count.
    """
    rows = outcomes[outcomes["finding"].isin(["confirmed", "dismissed"])].copy()
    rows["confirmed_at"] = pd.to_datetime(rows["confirmed_at"])
    if known_by is not None:
        rows = rows[rows["confirmed_at"] < pd.Timestamp(known_by)]
    rows[LABEL] = (rows["finding"] == "confirmed").astype(int)
    rows = rows.sort_values(["ocid", "confirmed_at", LABEL], kind="stable")
    latest = rows.groupby("ocid", sort=True).tail(1)
    return pd.DataFrame(
        {
            OCID: latest["ocid"].to_numpy(),
            LABEL: latest[LABEL].to_numpy(),
            LABELLED_AT: latest["confirmed_at"].to_numpy(),
            SCHEME: latest["scheme"].fillna("").to_numpy(),
        }
    )


def attach_labels(
    frame: pd.DataFrame,
    outcomes: pd.DataFrame,
    split: TimeSplit,
    *,
    label_cutoff: date | None,
) -> pd.DataFrame:
    """``frame`` with ``part`` (train/calibration/test) and ``label`` (NaN when unlabelled);
    training and calibration labels honour ``label_cutoff``, test labels use all outcomes."""
    out = frame.copy()
    out["part"] = split.part(out[DECISION_DATE])
    everything = labels_from_outcomes(outcomes).set_index(OCID)[LABEL]
    known = labels_from_outcomes(outcomes, known_by=label_cutoff).set_index(OCID)[LABEL]
    label_all = out[OCID].map(everything).astype(float)
    label_known = out[OCID].map(known).astype(float)
    out[LABEL] = np.where(out["part"] == "test", label_all, label_known)
    return out
