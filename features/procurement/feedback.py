"""Members' problem reports as procurement-risk features and as reasons on a warning.

For each process row, as of its scoring moment (``decision_date`` in training; the moment of
scoring when a process is scored again later):

* ``feedback_supplier_<kind>_decayed``: the reports of each kind linked to any of the
  process's suppliers, each weighted ``0.5 ** (age_days / half_life_days)``;
* ``feedback_process_reports_decayed``: the reports linked to the process itself, any kind,
  weighted the same way.

Point in time: only reports submitted strictly before the scoring moment count, so a report
filed about a process after its award never reaches back into that process's training row
(reports come weeks to months after the award: at the decision date a process's own count is
usually 0, its supplier's history is what carries). The kind is the handler's when confirmed,
else the classifier's (``store.queries.feedback.linked_reports``). Reporters are never seen.

Input frames: ``frame`` with ``ocid``, ``supplier_ids`` (list per row) and the as-of column;
``reports`` with ``report_id, submitted_at, kind, ocid, supplier_id``. Output: the feature
columns, indexed like ``frame``; 0 where no report counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from store.schema import FEEDBACK_KINDS

HALF_LIFE_DAYS = 180.0
PROCESS_REPORTS = "feedback_process_reports_decayed"
SUPPLIER_FEATURE = {kind: f"feedback_supplier_{kind}_decayed" for kind in FEEDBACK_KINDS}
FEEDBACK_FEATURES: list[str] = [*SUPPLIER_FEATURE.values(), PROCESS_REPORTS]

_KIND_NAMES = {
    "delivery_delay": ("delivery-delay", "交货延迟"),
    "price": ("price", "价格"),
    "quality": ("quality", "质量"),
    "process_blockage": ("process-blockage", "流程堵点"),
    "integrity_concern": ("integrity-concern", "廉洁问题"),
}
REASON_MIN_WEIGHT = 0.5
"""A feature gives a reason on the warning from this decayed count up (about one report
within a half-life)."""


def _decayed(pairs: pd.DataFrame, as_of: str, half_life_days: float) -> pd.Series:
    """Weight of each (row, report) pair submitted before the row's moment; 0 otherwise."""
    age_days = (pairs[as_of] - pairs["submitted_at"]).dt.total_seconds() / 86_400.0
    weight = pd.Series(np.power(0.5, age_days.clip(lower=0.0) / half_life_days), index=pairs.index)
    return weight.where(pairs["submitted_at"] < pairs[as_of], 0.0)


def feedback_features(
    frame: pd.DataFrame,
    reports: pd.DataFrame,
    *,
    as_of: str = "decision_date",
    half_life_days: float = HALF_LIFE_DAYS,
) -> pd.DataFrame:
    out = pd.DataFrame(0.0, index=frame.index, columns=FEEDBACK_FEATURES)
    if reports.empty or frame.empty:
        return out
    reports = reports.assign(submitted_at=pd.to_datetime(reports["submitted_at"]))
    moments = pd.DataFrame(
        {"row": frame.index, "ocid": frame["ocid"].to_numpy(), as_of: pd.to_datetime(frame[as_of])}
    ).dropna(subset=[as_of])

    by_supplier = reports.dropna(subset=["supplier_id"])[["supplier_id", "kind", "submitted_at"]]
    suppliers = moments.join(frame["supplier_ids"].rename("supplier_id"), on="row").explode(
        "supplier_id"
    )
    pairs = suppliers.dropna(subset=["supplier_id"]).merge(by_supplier, on="supplier_id")
    if not pairs.empty:
        pairs["weight"] = _decayed(pairs, as_of, half_life_days)
        summed = pairs.pivot_table(index="row", columns="kind", values="weight", aggfunc="sum")
        for kind, column in SUPPLIER_FEATURE.items():
            if kind in summed.columns:
                out.loc[summed.index, column] = summed[kind].to_numpy()

    by_process = reports.dropna(subset=["ocid"])[["ocid", "submitted_at"]]
    pairs = moments.merge(by_process, on="ocid")
    if not pairs.empty:
        pairs["weight"] = _decayed(pairs, as_of, half_life_days)
        summed_process = pairs.groupby("row")["weight"].sum()
        out.loc[summed_process.index, PROCESS_REPORTS] = summed_process.to_numpy()
    return out


def feedback_reasons(row: Mapping[str, float], language: str = "en") -> list[str]:
    """The warning's reasons from one row's feedback features, strongest first: e.g.
    "2.3 recent integrity-concern reports from members about the supplier (time-decayed)" /
    "成员反馈中，该供应商近期有 2.3 件廉洁问题反馈（按时间衰减）"."""
    found: list[tuple[float, str]] = []
    for kind, column in SUPPLIER_FEATURE.items():
        value = float(row.get(column, 0.0) or 0.0)
        if math.isfinite(value) and value >= REASON_MIN_WEIGHT:
            en, zh = _KIND_NAMES[kind]
            text = (
                f"成员反馈中，该供应商近期有 {value:.1f} 件{zh}反馈（按时间衰减）"
                if language == "zh"
                else f"{value:.1f} recent {en} reports from members about the supplier "
                "(time-decayed)"
            )
            found.append((value, text))
    value = float(row.get(PROCESS_REPORTS, 0.0) or 0.0)
    if math.isfinite(value) and value >= REASON_MIN_WEIGHT:
        text = (
            f"本采购项目收到 {value:.1f} 件成员问题反馈（按时间衰减）"
            if language == "zh"
            else f"{value:.1f} member reports about this process (time-decayed)"
        )
        found.append((value, text))
    return [text for _, text in sorted(found, key=lambda item: -item[0])]


def process_feedback_reasons(
    reports: pd.DataFrame,
    *,
    ocid: str,
    supplier_ids: list[str],
    as_of: pd.Timestamp,
    half_life_days: float = HALF_LIFE_DAYS,
) -> list[tuple[str, str]]:
    """(English, Chinese) reasons for one process from the reports before ``as_of``, strongest
    first: what a warning shows about members' reports when it is opened."""
    frame = pd.DataFrame(
        {"ocid": [ocid], "supplier_ids": [list(supplier_ids)], "as_of": [pd.Timestamp(as_of)]}
    )
    row = feedback_features(frame, reports, as_of="as_of", half_life_days=half_life_days)
    values = {str(name): float(value) for name, value in row.iloc[0].items()}
    return list(zip(feedback_reasons(values, "en"), feedback_reasons(values, "zh"), strict=True))
