"""Drift of live traffic against each model's training reference, and the realised
precision of alerts from reviewers' verdicts, before labels reach training.

Per model name, a ``DriftWindow`` keeps the last ``drift_window`` scored rows (each model
input, coded as ``models.drift`` bins it, and the score) in a fixed ring buffer: bounded
memory, one short lock per scoring call, no statistics per request. PSI of each input and
of the score against the reference saved with the model (``metadata["drift_reference"]``)
is computed on read and kept for ``drift_refresh_seconds``, so ``/metrics`` scrapes and the
admin route cost one computation every few seconds at most. A window belongs to one model
version: when a row arrives scored by another version of the same model (a new champion),
the window starts again, empty, against the new version's reference.

A model shows a warning when the window holds at least ``drift_min_rows`` rows (fewer make
PSI noise) and the score's PSI or any input's exceeds ``drift_warning_psi`` (0.2).

Recording. The scoring code (``serving.jobs.procurement``, ``serving.jobs.esg``,
``serving.jobs.learning``) calls ``record_scored`` or ``record_frame`` with the model's name,
version and metadata (for the study models, ``metadata_`` of the ``MasteryModel`` or
``StudyRecommender``: a mastery read records one row per knowledge point, the probe each
``p_correct`` was predicted from; a suggestion request records a bounded, evenly spaced sample
of the member's candidates with the ranker's raw score); it reaches the monitor the
lifespan installed for the process (``install``), so routes, pushes and a hot-swapped
champion all record without the monitor being threaded through them. The service runs one
app per process (``workers`` is 1 while the store is DuckDB); tests that start several apps
one after another install each in turn. Recording never fails the scoring that called it.

Library. This is plain numpy on purpose: evidently would add 36 packages to the service
(litestar, plotly, nltk, statsmodels, a telemetry client, ...) and computes reports over
whole frames, nannyml and alibi-detect are batch drift toolkits of similar weight (and
alibi-detect wants a deep-learning backend for most detectors), and whylogs profiles with
sketches and offers no PSI. PSI over fixed bins is twenty lines (``models.drift.psi``),
tested on hand-computed cases.

Realised precision (``alert_precision``): per model version and warning level, the share
of reviewed alerts a reviewer confirmed. An alert's status is its latest verdict; reviewed
means confirmed or dismissed (``needs_information`` is not a verdict on the warning and is
counted apart).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.esg.build import supplier_rows
from features.esg.history import SupplierHistory
from models.drift import DriftReference
from serving.platform.shared_store import SharedStore
from store.database import Store
from store.queries import live as live_queries

logger = logging.getLogger(__name__)

LEVEL_ALL = "all"


class DriftWindow:
    """The last ``capacity`` rows one model version scored: inputs coded as the reference
    bins them (``[capacity, n_features]`` float64) and scores (``[capacity]``)."""

    def __init__(self, *, version: str, reference: DriftReference, capacity: int) -> None:
        self.version = version
        self.reference = reference
        self.capacity = capacity
        self._values = np.full((capacity, len(reference.features)), np.nan)
        self._scores = np.full(capacity, np.nan)
        self._next = 0
        self._count = 0
        self._lock = threading.Lock()

    def record(self, rows: Sequence[Mapping[str, Any]], scores: npt.ArrayLike) -> None:
        """Add scored rows (feature dicts and their scores, in the same order); the oldest
        rows beyond ``capacity`` are overwritten."""
        self.record_values(self.reference.encode_rows(rows), scores)

    def record_values(self, encoded: npt.NDArray[np.float64], scores: npt.ArrayLike) -> None:
        """``record`` of rows already encoded (``[n, n_features]``, ``DriftReference.encode_*``)."""
        values = encoded[-self.capacity :]
        score = np.asarray(scores, dtype=float).reshape(-1)[-self.capacity :]
        if len(values) != len(score):
            raise ValueError(f"{len(values)} rows and {len(score)} scores")
        n = len(values)
        with self._lock:
            positions = (self._next + np.arange(n)) % self.capacity
            self._values[positions] = values
            self._scores[positions] = score
            self._next = (self._next + n) % self.capacity
            self._count = min(self._count + n, self.capacity)

    def contents(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Copies of the filled part: values ``[n, n_features]`` and scores ``[n]``."""
        with self._lock:
            return self._values[: self._count].copy(), self._scores[: self._count].copy()


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    psi: float


@dataclass(frozen=True)
class ModelDrift:
    """One model's window against its reference (PSIs None while the window is empty)."""

    model: str
    version: str
    rows: int
    capacity: int
    score_psi: float | None
    features: tuple[FeatureDrift, ...]  # every input, largest PSI first
    warning: bool
    reference_rows: int | None
    data_version: str | None
    reason: str | None = None  # why there is no drift figure (no reference saved)


@dataclass(frozen=True)
class AlertPrecision:
    """Reviewed alerts of one model version at one warning level (``all``: every level)."""

    model: str
    version: str
    level: str
    alerts: int
    reviewed: int  # confirmed + dismissed
    confirmed: int
    needs_information: int

    @property
    def precision(self) -> float | None:
        return self.confirmed / self.reviewed if self.reviewed else None


def model_drift(name: str, window: DriftWindow, *, warning_psi: float, min_rows: int) -> ModelDrift:
    values, scores = window.contents()
    reference = window.reference
    rows = len(scores)
    if rows == 0:
        score_psi: float | None = None
        features: tuple[FeatureDrift, ...] = ()
    else:
        score_psi = reference.score.psi_of(scores)
        features = tuple(
            sorted(
                (
                    FeatureDrift(feature, bins.psi_of(values[:, j]))
                    for j, (feature, bins) in enumerate(reference.features.items())
                ),
                key=lambda drift: -drift.psi,
            )
        )
    worst = max([score_psi or 0.0, *(f.psi for f in features)])
    return ModelDrift(
        model=name,
        version=window.version,
        rows=rows,
        capacity=window.capacity,
        score_psi=score_psi,
        features=features,
        warning=rows >= min_rows and worst > warning_psi,
        reference_rows=reference.rows,
        data_version=reference.data_version,
    )


def alert_precision(store: Store) -> list[AlertPrecision]:
    """Per model version: one row per warning level and one for every level (``all``)."""
    out: list[AlertPrecision] = []
    totals: dict[tuple[str, str], list[int]] = {}
    for name, version, level, *counts in live_queries.alert_verdict_counts(store.connection):
        out.append(AlertPrecision(name, version, level, *counts))
        total = totals.setdefault((name, version), [0, 0, 0, 0])
        total[:] = [a + b for a, b in zip(total, counts, strict=True)]
    out += [
        AlertPrecision(name, version, LEVEL_ALL, *counts)
        for (name, version), counts in totals.items()
    ]
    return out


@dataclass
class _Cached:
    at: float = -float("inf")
    drift: tuple[ModelDrift, ...] = ()
    precision: tuple[AlertPrecision, ...] = ()


@dataclass
class DriftMonitor:
    """Windows per model name and the figures read from them (module docstring)."""

    window_size: int = 5000
    warning_psi: float = 0.2
    min_rows: int = 200
    refresh_seconds: float = 5.0
    store: SharedStore | None = None
    _windows: dict[str, DriftWindow] = field(default_factory=dict)
    _unavailable: dict[str, tuple[str, str]] = field(default_factory=dict)  # name: (version, why)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cached: _Cached = field(default_factory=_Cached)
    _refresh_lock: threading.Lock = field(default_factory=threading.Lock)

    def window(self, name: str, version: str, metadata: Mapping[str, Any]) -> DriftWindow | None:
        """The window of ``name`` for ``version``, a new one if the version changed; None
        when that version saved no reference."""
        with self._lock:
            window = self._windows.get(name)
            if window is not None and window.version == version:
                return window
            unavailable = self._unavailable.get(name)
            if window is None and unavailable is not None and unavailable[0] == version:
                return None
            try:
                reference = DriftReference.of_model(metadata)
            except (KeyError, TypeError, ValueError) as error:
                logger.warning("%s v%s: unreadable drift reference: %s", name, version, error)
                reference, why = None, "the model's drift reference cannot be read"
            else:
                why = "the model was saved without a drift reference"
            self._windows.pop(name, None)
            if reference is None:
                self._unavailable[name] = (version, why)
                return None
            self._unavailable.pop(name, None)
            window = DriftWindow(version=version, reference=reference, capacity=self.window_size)
            self._windows[name] = window
            self._cached = _Cached()  # a new version's figures show at once
            return window

    def record(
        self,
        name: str,
        version: str,
        metadata: Mapping[str, Any],
        rows: Sequence[Mapping[str, Any]],
        scores: npt.ArrayLike,
    ) -> None:
        if not len(rows):
            return
        window = self.window(name, version, metadata)
        if window is not None:
            window.record(rows, scores)

    def record_frame(
        self,
        name: str,
        version: str,
        metadata: Mapping[str, Any],
        frame: pd.DataFrame,
        scores: npt.ArrayLike,
    ) -> None:
        """``record`` of a feature frame's rows, encoded column by column."""
        if frame.empty:
            return
        window = self.window(name, version, metadata)
        if window is not None:
            window.record_values(window.reference.encode_frame(frame), scores)

    def _compute(self) -> _Cached:
        with self._lock:
            windows = dict(self._windows)
            unavailable = dict(self._unavailable)
        drift = [
            model_drift(name, window, warning_psi=self.warning_psi, min_rows=self.min_rows)
            for name, window in sorted(windows.items())
        ]
        drift += [
            ModelDrift(
                model=name,
                version=version,
                rows=0,
                capacity=self.window_size,
                score_psi=None,
                features=(),
                warning=False,
                reference_rows=None,
                data_version=None,
                reason=why,
            )
            for name, (version, why) in sorted(unavailable.items())
        ]
        precision: list[AlertPrecision] = []
        if self.store is not None:
            try:
                with self.store.use() as store:
                    precision = alert_precision(store)
            except Exception:
                logger.exception("realised alert precision could not be read")
        return _Cached(at=time.monotonic(), drift=tuple(drift), precision=tuple(precision))

    def current(self) -> _Cached:
        """The figures, recomputed when older than ``refresh_seconds`` (one thread computes,
        the others wait for it rather than compute again)."""
        if time.monotonic() - self._cached.at < self.refresh_seconds:
            return self._cached
        with self._refresh_lock:
            if time.monotonic() - self._cached.at >= self.refresh_seconds:
                self._cached = self._compute()
            return self._cached

    def drift(self) -> tuple[ModelDrift, ...]:
        return self.current().drift

    def precision(self) -> tuple[AlertPrecision, ...]:
        return self.current().precision


# --------------------------------------------------------------------------------------------
# The process's monitor (see the module docstring)

_installed: DriftMonitor | None = None


def install(monitor: DriftMonitor | None) -> None:
    """Make ``monitor`` the one scoring records into (None: stop recording)."""
    global _installed
    _installed = monitor


def recording() -> bool:
    """Whether a monitor records: scoring code skips preparing rows for drift otherwise."""
    return _installed is not None


def uninstall(monitor: DriftMonitor) -> None:
    """Stop recording into ``monitor`` if it is still the installed one."""
    if _installed is monitor:
        install(None)


def record_scored(
    name: str,
    version: str,
    metadata: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    scores: npt.ArrayLike,
) -> None:
    """Record scored feature dicts with their scores; never raises."""
    monitor = _installed
    if monitor is None:
        return
    try:
        monitor.record(name, version, metadata, rows, scores)
    except Exception:
        logger.exception("recording %d rows of %s for drift failed", len(rows), name)


def record_frame(
    name: str, version: str, metadata: Mapping[str, Any], frame: pd.DataFrame, scores: Any
) -> None:
    """``record_scored`` for a feature frame (its rows, ``scores`` ``[len(frame)]``); ``scores``
    may be a function of the frame, called only when a monitor records (a push's
    probabilities are not computed otherwise). Never raises."""
    monitor = _installed
    if monitor is None or frame.empty:
        return
    try:
        values = scores(frame) if callable(scores) else scores
    except Exception:
        logger.exception("scoring %d rows of %s for drift failed", len(frame), name)
        return
    try:
        monitor.record_frame(name, version, metadata, frame, values)
    except Exception:
        logger.exception("recording %d rows of %s for drift failed", len(frame), name)


def record_assessments(
    name: str,
    version: str,
    metadata: Mapping[str, Any],
    history: SupplierHistory,
    as_of: date,
    assessments: Iterable[Any],
) -> None:
    """``record_scored`` for supplier assessments (``supplier_id`` and ``probability``), their
    features computed again from ``history`` as of ``as_of`` only when a monitor records."""
    if _installed is None:
        return
    scored = [a for a in assessments if a is not None]
    if not scored:
        return
    try:
        rows = supplier_rows(history, [str(a.supplier_id) for a in scored], as_of)
        scores = [float(a.probability) for a in scored]
    except Exception:
        logger.exception("features of %d rows of %s for drift failed", len(scored), name)
        return
    record_scored(name, version, metadata, rows, scores)
