"""Loading a champion names its registry: MLflow's process-wide registry URI, pointed elsewhere
by another caller in the same process, must not send the load to the wrong registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow.pyfunc import PythonModel

from serving.live.registry import CHAMPION, load_python_model


class Constant(PythonModel):
    """A registered model that answers one number: which registry it came from."""

    def __init__(self, value: int) -> None:
        self.value = value

    def predict(self, context: Any, model_input: Any, params: Any = None) -> list[int]:
        return [self.value]


def _register(root: Path, value: int) -> str:
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment(experiment_id=mlflow.create_experiment("e", str(root / "artifacts")))
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model", python_model=Constant(value), pip_requirements=["mlflow"]
        )
    version = mlflow.register_model(info.model_uri, "constant")
    mlflow.MlflowClient(uri, uri).set_registered_model_alias("constant", CHAMPION, version.version)
    return uri


@pytest.fixture
def two_registries(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    return _register(tmp_path / "a", 1), _register(tmp_path / "b", 2)


def test_each_load_reads_the_registry_it_names(two_registries: tuple[str, str]) -> None:
    first, second = two_registries
    mlflow.set_registry_uri(second)
    model, version = load_python_model(first, "constant")
    assert (model.value, version) == (1, "1")
    mlflow.set_registry_uri(first)
    model, _ = load_python_model(second, "constant")
    assert model.value == 2
