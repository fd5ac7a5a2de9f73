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

The columns are procurement-risk model features (their specs and reason sentences are in
``features.procurement.specs``): every feature row takes them from its history's
``ReportIndex`` (``ReportIndex.row``, one process at a time, in ``process_features``), so
training, batch scoring and the live paths compute them alike; ``feedback_features`` is the
same over a frame (the ablation's variants).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

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
REPORT_COLUMNS = ("report_id", "submitted_at", "kind", "ocid", "supplier_id")
_DAY_NS = 86_400 * 10**9
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


def _linked(reports: pd.DataFrame) -> pd.DataFrame:
    """``REPORT_COLUMNS`` of the reports linked to a process or supplier; rows as stored in
    ``feedback_reports`` (with ``handler_kind``) take the handler's kind when confirmed, as
    ``store.queries.feedback.linked_reports`` does."""
    if "handler_kind" in reports.columns:
        reports = reports.assign(kind=reports["handler_kind"].fillna(reports["kind"]))
    linked = reports["ocid"].notna() | reports["supplier_id"].notna()
    return reports.loc[linked, list(REPORT_COLUMNS)]


def _already_indexed(indexed: pd.DataFrame, linked: pd.DataFrame) -> bool:
    """Whether every row of ``linked`` is in ``indexed`` with the same kind, links and time."""
    keys = ["report_id", "kind", "ocid", "supplier_id"]
    left = linked.assign(submitted_at=pd.to_datetime(linked["submitted_at"]).astype("int64"))
    right = indexed.assign(submitted_at=pd.to_datetime(indexed["submitted_at"]).astype("int64"))
    found = (
        left[[*keys, "submitted_at"]]
        .astype(str)
        .merge(
            right[[*keys, "submitted_at"]].astype(str).drop_duplicates(), how="left", indicator=True
        )
    )
    return bool((found["_merge"] == "both").all())


def _times(group: pd.DataFrame) -> np.ndarray:
    return np.sort(group["submitted_ns"].to_numpy(np.int64), kind="stable")


@dataclass(frozen=True)
class ReportIndex:
    """The linked reports of ``reports`` (``REPORT_COLUMNS``; one row per report, the last of
    a ``report_id`` counts) indexed for one process at a time: per supplier and per process,
    the submission times (ns, sorted) and kinds. Never changed after it is built; ``added``
    returns a new index. ``row`` gives what ``feedback_features`` gives for one row (up to the
    summation order of floating sums), so that batch and online rows are the same code.
    ``by_supplier`` is keyed by (supplier_id, kind), ``by_process`` by ocid."""

    reports: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(REPORT_COLUMNS))
    )
    half_life_days: float = HALF_LIFE_DAYS
    by_supplier: dict[tuple[str, str], np.ndarray] = field(init=False)
    by_process: dict[str, np.ndarray] = field(init=False)

    def __post_init__(self) -> None:
        frame = _linked(self.reports).drop_duplicates("report_id", keep="last")
        frame = frame.assign(
            submitted_ns=pd.to_datetime(frame["submitted_at"]).astype("datetime64[ns]")
        ).dropna(subset=["submitted_ns"])
        frame["submitted_ns"] = frame["submitted_ns"].astype(np.int64)
        object.__setattr__(self, "reports", frame[list(REPORT_COLUMNS)].reset_index(drop=True))
        suppliers = frame.dropna(subset=["supplier_id"])
        object.__setattr__(
            self,
            "by_supplier",
            {
                (str(supplier), str(kind)): _times(group)
                for (supplier, kind), group in suppliers.groupby(["supplier_id", "kind"])
            },
        )
        processes = frame.dropna(subset=["ocid"])
        object.__setattr__(
            self,
            "by_process",
            {str(ocid): _times(group) for ocid, group in processes.groupby("ocid")},
        )

    def added(self, reports: pd.DataFrame) -> ReportIndex:
        """This index with ``reports`` added (a report already here is replaced); ``self``
        when every one of them is already here as given."""
        linked = _linked(reports)
        if linked.empty or _already_indexed(self.reports, linked):
            return self
        combined = pd.concat([self.reports, linked], ignore_index=True)
        return ReportIndex(combined, self.half_life_days)

    def _decayed_sum(self, times: np.ndarray | None, moment: int) -> float:
        if times is None:
            return 0.0
        earlier = times[: int(np.searchsorted(times, moment, side="left"))]
        if not len(earlier):
            return 0.0
        age_days = (moment - earlier) / _DAY_NS
        return float(np.sum(np.power(0.5, age_days / self.half_life_days)))

    def row(self, ocid: str, supplier_ids: Sequence[str], moment: int | None) -> dict[str, float]:
        """``FEEDBACK_FEATURES`` of one process as of ``moment`` (ns; None: no moment, all 0):
        only reports submitted strictly before it count."""
        out = dict.fromkeys(FEEDBACK_FEATURES, 0.0)
        if moment is None:
            return out
        for supplier in supplier_ids:
            for kind, column in SUPPLIER_FEATURE.items():
                out[column] += self._decayed_sum(self.by_supplier.get((supplier, kind)), moment)
        out[PROCESS_REPORTS] = self._decayed_sum(self.by_process.get(ocid), moment)
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
