"""Thresholds and windows of the history features."""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.settings import Settings
from features.procurement.redflags import CardinalSettings, R024Settings


@dataclass(frozen=True)
class HistoryRules:
    """Thresholds and windows of the features (the thresholds come from ``Settings``).

    ``min_price_observations``: fewer earlier prices than this and a price ratio is missing.
    ``min_fence_observations``: fewer earlier winner/second-lowest ratios than this and the
    R024/R058 fences are undefined (neither flag fires).
    """

    approval_thresholds_cny: tuple[float, ...] = (50_000.0, 500_000.0)
    legal_tender_threshold_cny: float = 2_000_000.0
    minimum_tender_days: int = 20
    price_window_days: int = 180
    split_window_days: int = 30
    relationship_window_days: int = 365
    min_price_observations: int = 3
    min_fence_observations: int = 30
    currency: str = "CNY"

    @classmethod
    def from_settings(cls, settings: Settings | None) -> HistoryRules:
        if settings is None:
            return cls()
        return cls(
            approval_thresholds_cny=tuple(sorted(settings.approval_thresholds_cny)),
            legal_tender_threshold_cny=settings.legal_tender_threshold_cny,
            minimum_tender_days=settings.minimum_tender_days,
        )

    def cardinal_settings(self) -> CardinalSettings:
        """Cardinal's defaults for the per-process indicators, main currency fixed.

        R024 is enabled (fence +inf) so that ``process_evidence`` keeps the winner/second-lowest
        pair (Cardinal's own computation); R024 and R058 are then decided against fences from
        the history before the process (``ProcurementHistory.fences``, ``ProcessEvidence.as_of``).
        R025, R038 and R048 are dataset-level indicators about organisations; their as-of
        counterparts are the supplier win-ratio and history features, so they are off here.
        """
        settings = CardinalSettings(currency=self.currency)
        settings.r024 = R024Settings(threshold=math.inf)
        settings.r058 = None
        settings.r025 = None
        settings.r038 = None
        settings.r048 = None
        return settings
