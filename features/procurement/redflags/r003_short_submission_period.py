"""R003 Short submission period (cardinal-rs ``src/indicators/r003.rs``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from features.procurement.redflags.flag import RedFlag
from features.procurement.redflags.util import (
    Process,
    as_dict_or_none,
    as_str,
    get,
    matches_procurement_method,
)

if TYPE_CHECKING:
    from features.procurement.redflags.run import Evaluator


@dataclass
class R003Settings:
    """``[R003]`` (r003.rs ``R003::new``): ``threshold`` in whole days, default 15.

    ``procurement_methods``: pipe-separated ``/tender/procurementMethod`` values to which the
    indicator is restricted (unset: all). ``procurement_method_details``: a threshold per
    ``/tender/procurementMethodDetails`` value (the ``[R003.procurement_method_details]``
    section of a settings file).
    """

    threshold: int = 15
    procurement_methods: str | None = None
    procurement_method_details: dict[str, int] = field(default_factory=dict)


def fold(
    evaluator: Evaluator, release: dict[str, Any], process: Process, r003: R003Settings
) -> None:
    """Flag if (endDate - startDate) in whole days < threshold (per method details)."""
    tender = as_dict_or_none(release.get("tender"))
    if tender is None or not matches_procurement_method(tender, evaluator.r003_methods):
        return
    period = as_dict_or_none(tender.get("tenderPeriod"))
    start = as_str(get(period, "startDate"))
    end = as_str(get(period, "endDate"))
    if start is None or end is None:
        return
    start_ns = rfc3339_nanoseconds(start)
    end_ns = rfc3339_nanoseconds(end)
    if start_ns is None or end_ns is None:
        return
    days = whole_days(end_ns - start_ns)
    details = tender.get("procurementMethodDetails")
    if isinstance(details, str) and details in r003.procurement_method_details:
        threshold = r003.procurement_method_details[details]
    else:
        threshold = r003.threshold
    if days < threshold:
        process.flags.append(
            RedFlag(
                "R003",
                "OCID",
                process.ocid,
                1.0,
                {
                    "submission_period_days": days,
                    "threshold_days": threshold,
                    "start_date": start,
                    "end_date": end,
                },
            )
        )


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})"
)


def rfc3339_nanoseconds(text: str) -> int | None:
    """chrono ``DateTime::parse_from_rfc3339``, as nanoseconds since 0001-01-01 UTC."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction, offset = match.group(7), match.group(8)
    try:
        ordinal = date(year, month, day).toordinal()
    except ValueError:
        return None
    if hour > 23 or minute > 59 or second > 60:
        return None
    nanos = int((fraction or "0")[:9].ljust(9, "0"))
    offset_seconds = 0
    if offset not in ("Z", "z"):
        offset_hours, offset_minutes = int(offset[1:3]), int(offset[4:6])
        if offset_hours > 23 or offset_minutes > 59:
            return None
        offset_seconds = (offset_hours * 3600 + offset_minutes * 60) * (
            -1 if offset[0] == "-" else 1
        )
    seconds = ordinal * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds
    return seconds * 1_000_000_000 + nanos


def whole_days(nanoseconds: int) -> int:
    """chrono ``TimeDelta::num_days``: truncated toward zero."""
    days = abs(nanoseconds) // 86_400_000_000_000
    return days if nanoseconds >= 0 else -days
