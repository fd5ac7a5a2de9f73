"""The settings that define the procurement features, saved with each model.

The risk model learned its weights on features computed with the installation's approval
thresholds, legal tender line and minimum tender days (``HistoryRules``). Training saves those
values in the model's metadata under ``FEATURE_SETTINGS_KEY``; the service computes that
model's features with the saved values, whatever the deployment's settings say now, and
reports the difference. The other rules of ``HistoryRules`` (windows, minimum observations,
currency) are code, not settings: they travel with the code version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from features.procurement.history import HistoryRules

FEATURE_SETTINGS_KEY = "feature_settings"
"""Model metadata key: the feature-defining settings the model was trained with."""

FEATURE_SETTING_NAMES = (
    "approval_thresholds_cny",
    "legal_tender_threshold_cny",
    "minimum_tender_days",
)


def feature_settings_of(rules: HistoryRules) -> dict[str, Any]:
    """The feature-defining settings of ``rules``, JSON-ready (thresholds as a sorted list)."""
    return {
        "approval_thresholds_cny": sorted(float(t) for t in rules.approval_thresholds_cny),
        "legal_tender_threshold_cny": float(rules.legal_tender_threshold_cny),
        "minimum_tender_days": int(rules.minimum_tender_days),
    }


def rules_from_feature_settings(saved: Mapping[str, Any]) -> HistoryRules:
    """``HistoryRules`` with the saved feature settings (the code's defaults for the rest);
    ``KeyError`` when one is missing."""
    return HistoryRules(
        approval_thresholds_cny=tuple(sorted(float(t) for t in saved["approval_thresholds_cny"])),
        legal_tender_threshold_cny=float(saved["legal_tender_threshold_cny"]),
        minimum_tender_days=int(saved["minimum_tender_days"]),
    )


def feature_settings_differences(saved: Mapping[str, Any], deployment: HistoryRules) -> list[str]:
    """One line per feature setting whose deployment value differs from the saved one, e.g.
    ``"minimum_tender_days: model 20, deployment 15"``; empty when they agree."""
    current = feature_settings_of(deployment)
    trained = feature_settings_of(rules_from_feature_settings(saved))
    return [
        f"{name}: model {trained[name]}, deployment {current[name]}"
        for name in FEATURE_SETTING_NAMES
        if trained[name] != current[name]
    ]
