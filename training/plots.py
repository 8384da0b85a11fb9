"""PNG plots of an evaluation: ROC curve, confusion matrix, training curves.

matplotlib's Figure API draws straight to files: no pyplot state, no display backend.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)


def plot_roc(fpr: np.ndarray, tpr: np.ndarray, auc: float, path: Path) -> Path:
    """Draw the ROC curve with its AUC and the chance diagonal."""
    figure = Figure(figsize=(4.5, 4.5))
    axes = figure.subplots()
    axes.plot(fpr, tpr, label=f"AUC {auc:.3f}")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title="Test ROC")
    axes.legend(loc="lower right")
    return _save(figure, path)


def plot_confusion(counts: np.ndarray, names: Sequence[str], path: Path) -> Path:
    """Draw the confusion matrix, true classes down, predicted across."""
    figure = Figure(figsize=(4.5, 4.5))
    axes = figure.subplots()
    axes.imshow(counts, cmap="Blues")
    ticks = np.arange(len(names))
    axes.set(xticks=ticks, yticks=ticks, xticklabels=names, yticklabels=names)
    axes.set(xlabel="predicted", ylabel="true", title="Test confusion matrix")
    for (row, col), value in np.ndenumerate(counts):
        colour = "white" if value > counts.max() / 2 else "black"
        axes.text(col, row, str(value), ha="center", va="center", color=colour)
    return _save(figure, path)


def plot_history(history: Mapping[str, Sequence[float]], path: Path) -> Path:
    """Draw loss and accuracy per epoch, training and validation."""
    figure = Figure(figsize=(9, 3.8))
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    for key, values in history.items():
        if key in {"learning_rate", "lr"}:
            continue
        target = loss_axes if key.endswith("loss") else accuracy_axes
        target.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=key)
    loss_axes.set(xlabel="epoch", title="loss")
    accuracy_axes.set(xlabel="epoch", title="accuracy")
    loss_axes.legend()
    accuracy_axes.legend()
    return _save(figure, path)


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path
