"""The evaluation plots the tree models log to their MLflow run (matplotlib's Agg backend, so
training runs without a display)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

if TYPE_CHECKING:
    import lightgbm as lgb

SHAP_SAMPLE_ROWS = 2_000
"""Rows explained for the SHAP summary: exact tree SHAP on every test row would take minutes."""


class TreeModel(Protocol):
    """A LightGBM model over a feature frame (``RiskModel``, ``EsgModel``)."""

    @property
    def booster(self) -> lgb.Booster: ...

    @property
    def feature_names(self) -> Sequence[str]: ...

    def matrix(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]: ...


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (imported here, not at module import)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def log_figures(figures: dict[str, Any]) -> None:
    """Log each figure to the active run as ``plots/<name>``, then close it."""
    import mlflow

    plt = pyplot()
    for name, figure in figures.items():
        mlflow.log_figure(figure, f"plots/{name}")
        plt.close(figure)


def plot_reliability(table: pd.DataFrame, *, observed: str, title: str) -> Any:
    """Reliability diagram of ``training.metrics.procurement.reliability_table``: each bin's
    mean calibrated probability against its ``observed`` rate, labelled with the bin's count."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6, 5))
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    axes.plot(table["mean_probability"], table["observed_rate"], marker="o", label="model")
    for _, row in table.iterrows():
        axes.annotate(
            str(int(row["count"])), (row["mean_probability"], row["observed_rate"]), fontsize=7
        )
    axes.set_xlabel("mean calibrated probability")
    axes.set_ylabel(observed)
    axes.set_title(title)
    axes.legend(loc="upper left")
    figure.tight_layout()
    return figure


def plot_shap_summary(model: TreeModel, frame: pd.DataFrame, *, seed: int) -> Any:
    """``shap.summary_plot`` of ``shap.TreeExplainer`` values on up to ``SHAP_SAMPLE_ROWS``
    rows of ``frame`` (drawn with ``seed``)."""
    import shap

    plt = pyplot()
    sample = frame.sample(n=min(SHAP_SAMPLE_ROWS, len(frame)), random_state=seed)
    matrix = model.matrix(sample)
    with warnings.catch_warnings():  # "output has changed to a list of ndarray": handled below
        warnings.simplefilter("ignore", UserWarning)
        values = shap.TreeExplainer(model.booster).shap_values(matrix)
    if isinstance(values, list):  # older shap: one array per class
        values = values[-1]
    plt.figure()
    shap.summary_plot(
        values, pd.DataFrame(matrix, columns=list(model.feature_names)), show=False, max_display=20
    )
    figure = plt.gcf()
    figure.tight_layout()
    return figure
