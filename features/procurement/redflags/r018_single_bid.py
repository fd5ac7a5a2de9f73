"""R018 Single bid received (cardinal-rs ``src/indicators/r018.rs``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from features.procurement.redflags.flag import RedFlag
from features.procurement.redflags.util import (
    Process,
    as_dict_or_none,
    matches_procurement_method,
)

if TYPE_CHECKING:
    from features.procurement.redflags.run import Evaluator


@dataclass
class R018Settings:
    """``[R018]`` (r018.rs ``R018::new``): competitive methods, default ``open|selective``."""

    procurement_methods: str | None = None


def fold(evaluator: Evaluator, release: dict[str, Any], process: Process) -> None:
    """Flag if ``numberOfTenderers`` is the integer 1 in a competitive procedure."""
    tender = as_dict_or_none(release.get("tender"))
    if tender is None or not matches_procurement_method(tender, evaluator.r018_methods):
        return
    number = tender.get("numberOfTenderers")
    # serde_json ``as_u64().unwrap_or_default() == 1``: a float 1.0 is not 1.
    if isinstance(number, int) and not isinstance(number, bool) and number == 1:
        process.flags.append(
            RedFlag(
                "R018",
                "OCID",
                process.ocid,
                1.0,
                {
                    "number_of_tenderers": 1,
                    "procurement_method": tender.get("procurementMethod"),
                },
            )
        )
