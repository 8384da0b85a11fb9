"""Classification metrics in plain numpy (no scikit-learn in the image)."""

from __future__ import annotations

import numpy as np


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Return the ROC AUC of binary labels by the rank (Mann-Whitney U) formula."""
    y = np.asarray(y_true).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    sorted_scores = s[order]
    ranks = np.empty(len(s), dtype=np.float64)
    # Tied scores share the average of the ranks they span.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def predict_labels(
    probabilities: np.ndarray, threshold: float, positive_index: int | None
) -> np.ndarray:
    """Return class indices: positive when its score reaches the threshold, else argmax."""
    if positive_index is None or probabilities.shape[1] != 2:
        return np.argmax(probabilities, axis=1)
    negative_index = 1 - positive_index
    positive = probabilities[:, positive_index] >= threshold
    return np.where(positive, positive_index, negative_index)


def classification_metrics(
    probabilities: np.ndarray,
    labels: np.ndarray,
    *,
    threshold: float = 0.5,
    positive_index: int | None = None,
) -> dict[str, float]:
    """Return accuracy and ROC AUC (one-vs-rest macro average beyond two classes)."""
    predicted = predict_labels(probabilities, threshold, positive_index)
    accuracy = float(np.mean(predicted == labels)) if len(labels) else float("nan")
    n_classes = probabilities.shape[1]
    if n_classes == 2:
        index = 1 if positive_index is None else positive_index
        auc = roc_auc(labels == index, probabilities[:, index])
    else:
        per_class = [roc_auc(labels == k, probabilities[:, k]) for k in range(n_classes)]
        auc = float(np.nanmean(per_class)) if not np.all(np.isnan(per_class)) else float("nan")
    return {"accuracy": accuracy, "auc": auc}
