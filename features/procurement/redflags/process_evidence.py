"""One process's red flags with the figures behind them, for features and explanations alike.

Cardinal decides R024 and R058 against fences over a whole data set. The risk features judge
each process as of its decision date instead, against fences of the processes awarded before
it; ``ProcessEvidence`` carries the process's own verdict plus the winner/second-lowest
figures, and ``as_of`` decides R024 and R058 against such fences with Cardinal's own rules
(``r024.fires``, ``r058.fires``). The features and the service's explanation of a flag are
then read from the same record, so an explanation shows the fence that decided.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from features.procurement.redflags import r024_price_close_to_winning_bid as r024
from features.procurement.redflags import r058_heavily_discounted_bid as r058
from features.procurement.redflags.run import Evaluator
from features.procurement.redflags.settings import CardinalSettings
from features.procurement.redflags.util import Currency, second_lowest_values


@dataclass(frozen=True)
class ProcessEvidence:
    """The OCID-level flags of one process and the figures behind each.

    ``values``: code -> figures, for each flag fired (R024 and R058 only after ``as_of``).
    ``second_lowest``: the winning and second-lowest valid bids R024 and R058 compare
    (``difference`` is their ratio, (second - winner) / winner), or None when the process has
    no such pair.
    """

    values: Mapping[str, Mapping[str, Any]]
    second_lowest: Mapping[str, Any] | None = None

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(self.values)

    @property
    def second_lowest_ratio(self) -> float:
        """The winner/second-lowest ratio; NaN without a pair."""
        if self.second_lowest is None:
            return math.nan
        return float(self.second_lowest["difference"])

    def as_of(self, q1: float, lower_fence: float, upper_fence: float) -> ProcessEvidence:
        """R024 and R058 decided against these fences (R024's ``q1`` and lower fence, R058's
        upper fence); NaN fences decide nothing."""
        ratio = self.second_lowest_ratio
        if self.second_lowest is None or math.isnan(ratio):
            return self
        values = dict(self.values)
        if r024.fires(ratio, q1, lower_fence):
            values["R024"] = {**self.second_lowest, "q1": q1, "lower_fence": lower_fence}
        if r058.fires(ratio, upper_fence):
            values["R058"] = {**self.second_lowest, "upper_fence": upper_fence}
        return ProcessEvidence(values, self.second_lowest)


def process_evidence(release: Mapping[str, Any], settings: CardinalSettings) -> ProcessEvidence:
    """What Cardinal's per-process indicators say about ``release`` alone (main currency:
    ``settings.currency`` or the first observed): its OCID-level flags with their figures,
    and the winner/second-lowest pair if R024 or R058 is enabled."""
    evaluator = Evaluator(settings, Currency(settings.currency))
    ocid = evaluator.included(release)
    if ocid is None:
        return ProcessEvidence({})
    assert isinstance(release, dict)
    process = evaluator.evaluate(release, ocid)
    values = {flag.code: dict(flag.values) for flag in process.flags if flag.group == "OCID"}
    entry = process.second_lowest
    return ProcessEvidence(values, None if entry is None else second_lowest_values(entry))
