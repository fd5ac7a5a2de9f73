"""MLflow plumbing every model shares: tracking URI, experiments, data version, registration,
champion gate.

Conventions (DESIGN.md): one experiment per model; a registered model per model; a new
version gets the alias ``challenger`` and takes ``champion`` only when it beats the current
champion on the *same* held-out rows by more than ``min_improvement`` (a tie keeps the
champion). Nothing here runs at import: callers set the tracking URI explicitly first.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from core.settings import Settings

TRACKING_URI_ENV = "LODESTAR_MLFLOW_TRACKING_URI"
CHAMPION = "champion"
CHALLENGER = "challenger"


class ChampionCannotScoreError(RuntimeError):
    """The registered champion cannot score today's held-out rows (e.g. features changed)."""


class SavableModel(Protocol):
    def save(self, folder: Path, /) -> Path:
        """Write the model into ``folder``; return the path its pyfunc loads it from."""
        ...


def resolve_tracking_uri(settings: Settings, explicit: str | None = None) -> str:
    """``explicit``, else ``$LODESTAR_MLFLOW_TRACKING_URI``, else SQLite in the data folder."""
    return explicit or os.environ.get(TRACKING_URI_ENV) or settings.resolved_mlflow_tracking_uri


def start_tracking(settings: Settings, explicit: str | None = None) -> tuple[str, Any]:
    """Point MLflow's tracking and registry at ``resolve_tracking_uri(settings, explicit)``
    (both: a registry URI set earlier in the process, by a load, must not catch this job's
    registrations); the URI and a client whose tracking and registry stores are both that URI."""
    import mlflow

    uri = resolve_tracking_uri(settings, explicit)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri, mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


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


def frame_digest(frame: pd.DataFrame) -> str:
    """sha256 over the frame's values as text, in row and column order (not the index): the
    data version a run logs. Choose the columns first: what is hashed is what is versioned."""
    hashed = pd.util.hash_pandas_object(frame.astype(str), index=False)
    return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()


def finite_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """The metrics MLflow can store: NaN, infinite and None values left out."""
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}


def register_challenger(
    client: Any,
    model_name: str,
    model: SavableModel,
    python_model: Any,
    *,
    artifact_key: str,
    packages: tuple[str, ...],
    signature: Any = None,
    input_example: Any = None,
) -> str:
    """Log ``model`` as the active run's ``model``: a pyfunc (``python_model``) that finds the
    saved model under the artifact ``artifact_key``, requirements pinned to ``packages``.
    Register it as a new version of ``model_name`` with the alias ``challenger``; returns the
    version."""
    import mlflow

    with tempfile.TemporaryDirectory() as folder:
        saved = model.save(Path(folder) / artifact_key)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=python_model,
            artifacts={artifact_key: str(saved)},
            signature=signature,
            input_example=input_example,
            pip_requirements=pinned_requirements(packages),
            registered_model_name=model_name,
        )
    version = str(info.registered_model_version)
    client.set_registered_model_alias(model_name, CHALLENGER, version)
    return version


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


def record_gate(
    client: Any,
    model_name: str,
    version: str,
    gate: GateDecision,
    *,
    metric_key: str | None = None,
) -> None:
    """Carry out the gate's verdict on ``version`` (the challenger) and log it on the active run.

    Promoted: ``champion`` moves to ``version`` and ``challenger`` is dropped. Either way the
    run and the version get the tags ``gate.decision``, ``gate.reason`` and
    ``gate.champion_version``; with ``metric_key`` the run also gets the finite ones of
    ``gate.challenger_<metric_key>`` and ``gate.champion_<metric_key>``.
    """
    import mlflow

    if gate.promoted:
        client.set_registered_model_alias(model_name, CHAMPION, version)
        client.delete_registered_model_alias(model_name, CHALLENGER)
    tags = {
        "gate.decision": "promoted" if gate.promoted else "not promoted",
        "gate.reason": gate.reason,
        "gate.champion_version": gate.champion_version or "",
    }
    mlflow.set_tags(tags)
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, key, value)
    if metric_key is not None:
        mlflow.log_metrics(
            finite_metrics(
                {
                    f"gate.challenger_{metric_key}": gate.challenger_metric,
                    f"gate.champion_{metric_key}": gate.champion_metric,
                }
            )
        )
