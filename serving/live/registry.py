"""Loading a registered champion: the MLflow registry is the only hand-off from training/.

Each model is loaded pinned to a version (the alias is resolved first, so the version served
is the version reported): at lifespan start, and again when the alias moves
(``serving.live.swap``). Every failure becomes
``ModelUnavailableError`` with a message safe to show any caller; the service starts anyway
and ``/readyz`` names what is missing.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, TypeVar

from serving.api.schemas.common import ModelReadiness

CHAMPION = "champion"
_SQLITE_PREFIX = "sqlite:///"
_MLFLOW_URIS = threading.Lock()
"""MLflow resolves ``models:/`` through its process-wide tracking and registry URIs; every load
sets both under this lock, so a process that reads two registries never loads from the wrong
one."""

ModelT = TypeVar("ModelT")


class ModelUnavailableError(RuntimeError):
    """A champion cannot be loaded; the message is safe to show any caller."""


def load_python_model(tracking_uri: str, name: str) -> tuple[Any, str]:
    """The python model behind ``models:/<name>@champion``, and its version.

    A SQLite registry file that does not exist is not created (reading must not write).
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    if tracking_uri.startswith(_SQLITE_PREFIX):
        database = Path(tracking_uri[len(_SQLITE_PREFIX) :])
        if not database.is_file():
            raise ModelUnavailableError(
                f"model {name}@{CHAMPION} is not registered (no model registry yet)"
            )
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        registered = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as error:
        raise ModelUnavailableError(f"model {name}@{CHAMPION} is not registered") from error
    version = str(registered.version)
    loaded = load_registered_pyfunc(tracking_uri, f"models:/{name}/{version}")
    return loaded.unwrap_python_model(), version


def load_registered_pyfunc(tracking_uri: str, model_uri: str) -> Any:
    """``mlflow.pyfunc.load_model(model_uri)`` resolved in the registry at ``tracking_uri``,
    whatever registry another caller in this process last pointed MLflow at."""
    import mlflow

    with _MLFLOW_URIS:
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        return mlflow.pyfunc.load_model(model_uri)


def champion_version(tracking_uri: str, name: str) -> str | None:
    """The version ``models:/<name>@champion`` points at now, or None when there is no such
    alias (or no registry file yet: reading must not write). Reads the registry only."""
    import mlflow
    from mlflow.exceptions import MlflowException

    database = tracking_uri[len(_SQLITE_PREFIX) :]
    if tracking_uri.startswith(_SQLITE_PREFIX) and not Path(database).is_file():
        return None
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def load_champion_model(
    tracking_uri: str, name: str, attribute: str, expected: type[ModelT]
) -> tuple[ModelT, str]:
    """The champion's wrapped model (``python_model.<attribute>``), checked to be ``expected``."""
    python_model, version = load_python_model(tracking_uri, name)
    model = getattr(python_model, attribute, None)
    if not isinstance(model, expected):
        raise ModelUnavailableError(f"model {name} version {version} is not a {expected.__name__}")
    return model, version


def model_readiness(name: str, version: str | None, reason: str | None) -> ModelReadiness:
    """What ``/readyz`` says of one model: loaded at ``version``, or why not."""
    if version is None:
        return ModelReadiness(
            name=name, alias=CHAMPION, loaded=False, reason=reason or "not loaded"
        )
    return ModelReadiness(name=name, alias=CHAMPION, loaded=True, version=version)
