"""The precision-recall plot of the procurement risk run."""

from __future__ import annotations

from typing import Any

import numpy as np

from training.metrics.procurement import pr_auc
from training.plots import pyplot


def plot_precision_recall(labels: np.ndarray, scores: dict[str, np.ndarray]) -> Any:
    from sklearn.metrics import precision_recall_curve

    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6, 5))
    audited = np.isfinite(labels)
    if (labels[audited] == 1).any():
        for name, score in scores.items():
            precision, recall, _ = precision_recall_curve(labels[audited], score[audited])
            label = f"{name} (AP {pr_auc(labels, score):.3f})"
            axes.step(recall, precision, where="post", label=label)
        axes.legend(loc="upper right")
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_title("precision–recall, audited test processes")
    figure.tight_layout()
    return figure
