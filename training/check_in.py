"""Check-in judgements of the mastery job: what MLflow may hold about them (counts and
quantiles over members), their precision and recall against the demo world's planted members
(evaluation only), and the per-member rows written to the store's ``check_in_judgements``
table (``--store-write``). The detection itself is ``features.learning.checkin``.
"""

from __future__ import annotations

import json
import math

import pandas as pd
from sklearn.metrics import roc_auc_score

from core.security import PersonalData
from core.settings import Keyring, Settings
from features.learning.kt_features import MEMBER
from store.database import Store
from world.layout import TRUTH_MEMBERS

CHECK_IN_TABLE = "check_in_judgements"
MIN_MEMBERS_FOR_QUANTILES = 10  # fewer: a quantile is close to one member's own figure
SUMMARY_QUANTILES = (0.1, 0.5, 0.9)


def read_check_in_truth(settings: Settings, personal: PersonalData) -> pd.Series | None:
    """Planted check-in-only flag per member key (evaluation only), or None without truth."""
    path = settings.resolved_truth_dir / TRUTH_MEMBERS
    if not path.is_file():
        return None
    truth = pd.read_csv(path, dtype={"employee_no": str, "check_in_only": str})
    keys = [personal.member_key(number) for number in truth["employee_no"]]
    return pd.Series(truth["check_in_only"].str.lower().eq("true").to_numpy(), index=keys)


def check_in_metrics(detected: pd.DataFrame, truth: pd.Series) -> dict[str, float]:
    """Precision and recall of ``flagged`` against the planted members (all members with
    study count; planted members without any are missed), and the score's ROC-AUC."""
    planted = truth.reindex(detected[MEMBER]).fillna(False).to_numpy(dtype=bool)
    flagged = detected["flagged"].to_numpy(dtype=bool)
    hits = int((flagged & planted).sum())
    return {
        "check_in.flagged": float(flagged.sum()),
        "check_in.planted": float(truth.sum()),
        "check_in.precision": hits / flagged.sum() if flagged.any() else math.nan,
        "check_in.recall": hits / float(truth.sum()) if truth.any() else math.nan,
        "check_in.score_auc": float(roc_auc_score(planted, detected["check_in_score"]))
        if 0 < planted.sum() < planted.size
        else math.nan,
        "check_in.base_rate": float(truth.mean()),
    }


def check_in_summary(detected: pd.DataFrame) -> dict[str, float]:
    """What MLflow may hold about the check-in judgements: counts, the flagged rate and (with
    at least ``MIN_MEMBERS_FOR_QUANTILES`` members) quantiles over members; nothing per member."""
    members = len(detected)
    flagged = detected["flagged"].to_numpy(dtype=bool)
    summary = {
        "check_in.members": float(members),
        "check_in.flagged": float(flagged.sum()),
        "check_in.flagged_rate": float(flagged.mean()) if members else math.nan,
    }
    if members < MIN_MEMBERS_FOR_QUANTILES:
        return summary
    for column in ("check_in_score", "logged_minutes", "mastery_gain"):
        values = detected[column].astype(float).dropna()
        if len(values) < MIN_MEMBERS_FOR_QUANTILES:
            continue
        for q in SUMMARY_QUANTILES:
            summary[f"check_in.{column}.p{round(q * 100):02d}"] = float(values.quantile(q))
    return summary


def check_in_rows(
    detected: pd.DataFrame,
    *,
    run_id: str,
    model_version: str,
    window: tuple[pd.Timestamp, pd.Timestamp],
    judged_at: pd.Timestamp,
) -> pd.DataFrame:
    """``detect_check_in``'s frame in the columns of the ``check_in_judgements`` table;
    ``window`` is ``[start, end)`` of the events judged, ``reasons`` a JSON list."""
    return pd.DataFrame(
        {
            "run_id": run_id,
            "model_version": model_version,
            "window_start": window[0],
            "window_end": window[1],
            "member_key": detected[MEMBER].astype(str).to_numpy(),
            "check_in_score": detected["check_in_score"].astype(float).to_numpy(),
            "flagged": detected["flagged"].astype(bool).to_numpy(),
            "logged_minutes": detected["logged_minutes"].astype(float).to_numpy(),
            "mastery_gain": detected["mastery_gain"].astype(float).to_numpy(),
            "successes_per_hour": detected["successes_per_hour"].astype(float).to_numpy(),
            "answers": detected["answers"].astype("int64").to_numpy(),
            "reasons": [json.dumps(list(r), ensure_ascii=False) for r in detected["reasons"]],
            "judged_at": judged_at,
        }
    )


def write_check_in(settings: Settings, keyring: Keyring, rows: pd.DataFrame) -> int:
    """Insert the judgements into the store (opened for writing: the service must not hold
    it); returns the new rows. A run's rows are keyed by its run id, so a rerun adds rows."""
    with Store.open(settings, keyring) as store:
        written = store.insert_new(CHECK_IN_TABLE, rows)
        store.checkpoint()
    return written
