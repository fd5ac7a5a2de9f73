"""MLflow plumbing every model shares: tracking URI, experiments, requirements, champion gate.

Conventions (DESIGN.md): one experiment per model; a registered model per model; a new
version gets the alias ``challenger`` and takes ``champion`` only when it beats the current
champion on the *same* held-out rows by more than ``min_improvement`` (a tie keeps the
champion). Nothing here runs at import: callers set the tracking URI explicitly first.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

from features.settings import Settings

TRACKING_URI_ENV = "LODESTAR_MLFLOW_TRACKING_URI"
CHAMPION = "champion"
CHALLENGER = "challenger"


class ChampionCannotScoreError(RuntimeError):
    """The registered champion cannot score today's held-out rows (e.g. features changed)."""


def resolve_tracking_uri(settings: Settings, explicit: str | None = None) -> str:
    """``explicit``, else ``$LODESTAR_MLFLOW_TRACKING_URI``, else SQLite in the data folder."""
    return explicit or os.environ.get(TRACKING_URI_ENV) or settings.resolved_mlflow_tracking_uri


def artifact_location(tracking_uri: str) -> str | None:
    """For a SQLite tracking store: ``<folder of the .db>/mlartifacts`` (a file URI), never
    ``./mlruns``; for a server, None (the server decides)."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        return None
    database = Path(tracking_uri[len(prefix) :]).resolve()
    return (database.parent / "mlartifacts").as_uri()


def experiment_id(name: str, tracking_uri: str) -> str:
    """The id of experiment ``name``, created (with our artifact location) if missing."""
    import mlflow

    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    return str(mlflow.create_experiment(name, artifact_location=artifact_location(tracking_uri)))


def pinned_requirements(packages: tuple[str, ...]) -> list[str]:
    """``package==installed version`` for each package (passed to ``log_model``, which would
    otherwise spend seconds inferring them)."""
    return [f"{package}=={installed_version(package)}" for package in packages]


@dataclass
class GateDecision:
    """The champion gate's verdict; metrics are on the same held-out rows."""

    promoted: bool
    reason: str
    challenger_metric: float
    champion_metric: float = math.nan
    champion_version: str | None = None
    metric_name: str = "metric"


def compare_with_champion(
    client: Any,
    model_name: str,
    challenger_metric: float,
    score_champion: Callable[[Any], float],
    *,
    min_improvement: float = 0.0,
    metric_name: str = "PR-AUC",
) -> GateDecision:
    """Decide whether the challenger replaces the champion (higher metric is better).

    ``score_champion`` receives the champion's loaded pyfunc and returns its metric on the
    challenger's held-out rows; it raises ``ChampionCannotScoreError`` when it cannot.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        champion = client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        return GateDecision(True, "no champion yet", challenger_metric, metric_name=metric_name)
    version = str(champion.version)
    loaded = mlflow.pyfunc.load_model(f"models:/{model_name}/{version}")
    try:
        champion_metric = score_champion(loaded)
    except ChampionCannotScoreError as error:
        reason = f"champion v{version} cannot score today's held-out rows ({error})"
        return GateDecision(True, reason, challenger_metric, math.nan, version, metric_name)
    required = f"(+{min_improvement} required)"
    if math.isnan(challenger_metric):
        promoted, reason = False, "the held-out rows have no positive label: nothing to compare"
    elif math.isnan(champion_metric) or challenger_metric > champion_metric + min_improvement:
        promoted = True
        reason = (
            f"challenger {metric_name} {challenger_metric:.4f} beats champion v{version} "
            f"{champion_metric:.4f} {required}"
        )
    else:
        promoted = False
        reason = (
            f"challenger {metric_name} {challenger_metric:.4f} does not beat champion "
            f"v{version} {champion_metric:.4f} {required}"
        )
    return GateDecision(promoted, reason, challenger_metric, champion_metric, version, metric_name)
