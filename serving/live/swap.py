"""Champions that move while the service runs: a watcher reads each model's ``champion``
alias every ``ServiceSettings.registry_poll_seconds`` (0 = off) and, when it moved, loads
the new version in its own thread and swaps it in.

A swap is one assignment of a new state object to ``app.state`` (``procurement``, ``esg``,
``learning``): requests take the state once at their start (``serving.deps``), so a request
answers wholly with the old model or wholly with the new one, and none waits for the load.
The procurement state keeps its live history, online layer and push lock (only the model and
its feature settings change); open alerts are then re-scored by the new champion, the older
rows kept. The study keeps its live data; its snapshot is rebuilt with the new models before
the swap. A state that had no model (none registered at startup) is loaded whole.

A load that fails leaves the old model answering: the error is logged, counted
(``lodestar_model_load_failures``) and shown by ``/readyz`` (``load_error``) until a load
succeeds. ``ModelBoard`` holds what ``/readyz`` and ``/metrics`` show of each model: the
version answering and when it was loaded (UTC).

Wiring (in the lifespan, after the models are loaded, stopped before ``runtime.close()``)::

    app.state.models = ModelBoard.of(app.state, settings, metrics)
    watcher = ChampionWatcher(app.state, settings, runtime, app.state.models)
    watcher.start()
    ...
    watcher.stop()
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from features.procurement.feature_settings import (
    FEATURE_SETTINGS_KEY,
    feature_settings_differences,
)
from features.procurement.history import HistoryRules
from serving.api.schemas.common import ModelReadiness
from serving.jobs import esg, learning, procurement
from serving.live.registry import ModelUnavailableError, champion_version
from serving.platform.metrics import ServiceMetrics
from serving.platform.periodic import Periodic
from serving.runtime import Runtime
from serving.settings import ServiceSettings

logger = logging.getLogger(__name__)

MODELS = (
    procurement.REGISTERED_MODEL,
    esg.REGISTERED_MODEL,
    learning.MASTERY_MODEL,
    learning.RECOMMENDER_MODEL,
)


class SwapError(RuntimeError):
    """A moved champion could not be loaded; the message is safe to show any caller."""


@dataclass(frozen=True)
class ModelStatus:
    """What ``/readyz`` adds about one model: the version answering and when it was loaded,
    the last failed load of a newer champion, and a feature-settings mismatch."""

    version: str | None = None
    loaded_at: datetime | None = None
    load_error: str | None = None
    failed_version: str | None = None
    feature_settings_warning: str | None = None


class ModelBoard:
    """Each model's ``ModelStatus``, shared by the watcher (writes) and the health routes
    (reads); every change of version also goes to the metrics."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self._metrics = metrics
        self._lock = threading.Lock()
        self._status: dict[str, ModelStatus] = {}

    @classmethod
    def of(cls, state: Any, settings: ServiceSettings, metrics: ServiceMetrics) -> ModelBoard:
        """The board for the models the lifespan loaded (``state`` is ``app.state``)."""
        board = cls(metrics)
        now = datetime.now(UTC)
        for name, version in loaded_versions(state).items():
            if version is not None:
                board.loaded(name, version, now)
        board.check_feature_settings(state, settings)
        return board

    def loaded(self, name: str, version: str, at: datetime) -> None:
        with self._lock:
            previous = self._status.get(name, ModelStatus())
            self._status[name] = dataclasses.replace(
                previous, version=version, loaded_at=at, load_error=None, failed_version=None
            )
        self._metrics.record_model_loaded(name, version, at)

    def failed(self, name: str, version: str | None, error: str) -> None:
        with self._lock:
            previous = self._status.get(name, ModelStatus())
            self._status[name] = dataclasses.replace(
                previous, load_error=error, failed_version=version
            )
        self._metrics.model_load_failures.labels(name).inc()

    def warn_feature_settings(self, name: str, warning: str | None) -> None:
        with self._lock:
            previous = self._status.get(name, ModelStatus())
            self._status[name] = dataclasses.replace(previous, feature_settings_warning=warning)

    def status(self, name: str) -> ModelStatus:
        with self._lock:
            return self._status.get(name, ModelStatus())

    def annotate(self, readiness: ModelReadiness) -> ModelReadiness:
        """``readiness`` with when its version was loaded and any load error or warning. The
        version and its load time are the pair the board holds: between a swap publishing a
        model and the board recording it, the previous pair, never the new version with the
        old time."""
        status = self.status(readiness.name)
        update: dict[str, Any] = {
            "loaded_at": status.loaded_at if readiness.loaded else None,
            "load_error": status.load_error,
            "feature_settings_warning": status.feature_settings_warning,
        }
        if readiness.loaded and status.version is not None:
            update["version"] = status.version
        return readiness.model_copy(update=update)

    def check_feature_settings(self, state: Any, settings: ServiceSettings) -> None:
        """Warn (log and readiness) when the deployment's feature settings differ from those
        the procurement champion was trained with; the model's own are used."""
        risk = state.procurement.risk
        warning = None if risk is None else feature_settings_warning(risk.model, settings)
        if warning is not None:
            logger.warning("%s: %s", procurement.REGISTERED_MODEL, warning)
        self.warn_feature_settings(procurement.REGISTERED_MODEL, warning)


def feature_settings_warning(model: Any, settings: ServiceSettings) -> str | None:
    """Why the deployment's feature settings differ from ``model``'s saved ones, or None
    (also None for a model saved without them: the deployment's are then used)."""
    saved = model.metadata.get(FEATURE_SETTINGS_KEY)
    if not isinstance(saved, dict):
        return None
    differences = feature_settings_differences(saved, HistoryRules.from_settings(settings))
    if not differences:
        return None
    return (
        "the deployment's feature settings differ from the model's; its features use the "
        "model's: " + "; ".join(differences)
    )


def loaded_versions(state: Any) -> dict[str, str | None]:
    """The version answering for each model in ``app.state`` (None: none loaded)."""
    risk = state.procurement.risk
    supplier = state.esg.esg
    study = state.learning.study
    return {
        procurement.REGISTERED_MODEL: None if risk is None else risk.version,
        procurement.COLLUSION_MODEL: None if risk is None else risk.collusion_version,
        esg.REGISTERED_MODEL: None if supplier is None else supplier.version,
        learning.MASTERY_MODEL: None if study is None else study.mastery_version,
        learning.RECOMMENDER_MODEL: None if study is None else study.recommender_version,
    }


# --------------------------------------------------------------------------------------------
# Swaps: load in the calling (background) thread, then one assignment


def swap_procurement(state: Any, settings: ServiceSettings, runtime: Runtime) -> None:
    current: procurement.ProcurementState = state.procurement
    if current.risk is None:
        loaded = procurement.load_procurement(settings, runtime)
        if loaded.risk is None:
            raise SwapError(loaded.unavailable_reason or "not loaded")
        state.procurement = loaded
        return
    model, version = procurement.load_champion(settings.resolved_mlflow_tracking_uri)
    collusion = procurement.load_collusion_of(model, settings.resolved_mlflow_tracking_uri)
    rules = procurement.model_feature_rules(model, settings)
    new_risk = current.risk.with_model(model, version, rules, collusion)
    swapped = dataclasses.replace(current, risk=new_risk)  # same history, online layer, lock
    state.procurement = swapped
    try:
        rescored = swapped.rescore_open_alerts(new_risk)
        logger.info("open alerts re-scored by %s v%s: %s", new_risk.name, version, rescored)
    except Exception:
        logger.exception("re-scoring the open alerts with %s v%s failed", new_risk.name, version)


def swap_esg(state: Any, settings: ServiceSettings, runtime: Runtime) -> None:
    current: esg.EsgState = state.esg
    if current.esg is None:
        loaded = esg.load_esg(settings, runtime)
        if loaded.esg is None:
            raise SwapError(loaded.unavailable_reason or "not loaded")
        state.esg = loaded
        return
    model, version = esg.load_champion(settings.resolved_mlflow_tracking_uri)
    state.esg = dataclasses.replace(
        current, esg=dataclasses.replace(current.esg, model=model, version=version)
    )


def swap_learning(state: Any, settings: ServiceSettings, runtime: Runtime, moved: set[str]) -> None:
    """Load the moved study model(s) (``moved``: registered names), keep the other, build the
    new study's snapshot, then swap."""
    current: learning.LearningState = state.learning
    study = current.study
    if study is None:
        loaded = learning.load_learning(settings, runtime)
        if loaded.study is None:
            raise SwapError(loaded.unavailable_reason or "not loaded")
        state.learning = loaded
        return
    uri = settings.resolved_mlflow_tracking_uri
    mastery, mastery_version = study.mastery, study.mastery_version
    recommender, recommender_version = study.recommender, study.recommender_version
    if learning.MASTERY_MODEL in moved:
        mastery, mastery_version = learning.load_mastery(uri)
    if learning.RECOMMENDER_MODEL in moved:
        recommender, recommender_version = learning.load_recommender(uri)
    new_study = study.with_models(mastery, mastery_version, recommender, recommender_version)
    versions = {
        learning.MASTERY_MODEL: mastery_version,
        learning.RECOMMENDER_MODEL: recommender_version,
    }
    state.learning = dataclasses.replace(current, study=new_study, versions=versions)


# --------------------------------------------------------------------------------------------
# The watcher


class ChampionWatcher:
    """A daemon thread that checks every ``registry_poll_seconds`` (0: never) whether a
    champion alias moved, and swaps the new version in (``check``)."""

    def __init__(
        self,
        state: Any,
        settings: ServiceSettings,
        runtime: Runtime,
        board: ModelBoard,
        *,
        read_champion: Callable[[str, str], str | None] = champion_version,
    ) -> None:
        self._state = state
        self._settings = settings
        self._runtime = runtime
        self.board = board
        self._read_champion = read_champion
        self.interval_s = settings.registry_poll_seconds
        every_s = self.interval_s if runtime.store is not None else 0.0
        self._periodic = Periodic("champion-watcher", every_s, self.check)
        self._checking = threading.Lock()

    @property
    def running(self) -> bool:
        return self._periodic.running

    def start(self) -> None:
        self._periodic.start()

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop watching; waits (up to ``timeout_s``) for a load under way."""
        self._periodic.stop(timeout_s)

    def moved(self) -> dict[str, str]:
        """Registered name → champion version, for each model whose champion is not the
        version answering (and not the version whose load failed last)."""
        uri = self._settings.resolved_mlflow_tracking_uri
        answering = loaded_versions(self._state)
        moved: dict[str, str] = {}
        for name in MODELS:
            champion = self._read_champion(uri, name)
            if champion is None or champion == answering[name]:
                continue
            if champion == self.board.status(name).failed_version:
                continue
            moved[name] = champion
        return moved

    def check(self) -> list[str]:
        """Swap in every moved champion now; the names swapped (one check at a time)."""
        with self._checking:
            moved = self.moved()
            swaps: list[tuple[list[str], Callable[[], None]]] = []
            state, settings, runtime = self._state, self._settings, self._runtime
            if procurement.REGISTERED_MODEL in moved:
                swaps.append(
                    (
                        [procurement.REGISTERED_MODEL],
                        lambda: swap_procurement(state, settings, runtime),
                    )
                )
            if esg.REGISTERED_MODEL in moved:
                swaps.append(([esg.REGISTERED_MODEL], lambda: swap_esg(state, settings, runtime)))
            study_moved = {learning.MASTERY_MODEL, learning.RECOMMENDER_MODEL} & set(moved)
            if study_moved:
                swaps.append(
                    (
                        sorted(study_moved),
                        lambda: swap_learning(state, settings, runtime, study_moved),
                    )
                )
            swapped: list[str] = []
            for names, swap in swaps:
                if self._swap(names, moved, swap):
                    swapped += names
            if procurement.REGISTERED_MODEL in swapped:
                self.board.check_feature_settings(state, settings)
                self._collusion_follows(now=datetime.now(UTC))
            return swapped

    def _collusion_follows(self, now: datetime) -> None:
        """The collusion version moves with the risk model that pins it."""
        version = loaded_versions(self._state)[procurement.COLLUSION_MODEL]
        if (
            version is not None
            and version != self.board.status(procurement.COLLUSION_MODEL).version
        ):
            self.board.loaded(procurement.COLLUSION_MODEL, version, now)

    def _swap(self, names: list[str], moved: dict[str, str], swap: Callable[[], None]) -> bool:
        try:
            swap()
        except Exception as error:
            known = isinstance(error, SwapError | ModelUnavailableError)
            reason = str(error) if known else f"{type(error).__name__} while loading"
            for name in names:
                target = moved.get(name)
                message = f"version {target} could not be loaded ({reason}); the previous answers"
                logger.exception("loading %s v%s failed; the previous one answers", name, target)
                self.board.failed(name, target, message)
            return False
        now = datetime.now(UTC)
        answering = loaded_versions(self._state)
        for name in names:
            version = answering[name]
            if version is not None:
                self.board.loaded(name, version, now)
                logger.info("%s v%s swapped in", name, version)
        return True
