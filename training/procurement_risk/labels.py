"""Labels (``labels_from_outcomes``), from ``audit_outcomes``: a process's label is its latest
decisive audit verdict: 1 = ``confirmed`` (a finding), 0 = ``dismissed`` (audited, nothing
found); a process with only ``needs_information`` verdicts, or never audited, has no label.
Unaudited processes are not negatives: the audit is targeted (schemed processes are audited
more often) and most processes are never audited, so treating them as 0 would teach the model
what auditors choose to look at, mixed with what they miss. The model learns from audited
processes only (no positive-unlabelled reweighting); the probability it gives is "an audit
would confirm a finding". Unlabelled processes still count in the alert budget (thresholds and
precision/recall at capacity are per share of *all* processes) and train the unsupervised
isolation forest.

Which outcomes count (``attach_labels``): by default every outcome in the store, however late
it arrived (audit outcomes arrive two to nine months after the award; the store
holds them up to late 2026). Why that does not leak: the features of every row are built as
of its own decision date, the test rows' labels are used only to evaluate, and no training row
is decided in or after the test months; a training label that arrived after the test months
began is information about an earlier process, not about any test process. What it does
flatter is the label *count*: a model trained on 1 October would know only the outcomes
confirmed by then (about none for August, few for June–July). ``--label-cutoff`` keeps only
the training and calibration labels confirmed before a date, to measure that deployment
case; the test labels always use everything known.
"""

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
