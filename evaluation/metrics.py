"""Classification metrics in plain numpy: the deployed model's numbers, computed here."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion_matrix(
    truth: Sequence[str], predicted: Sequence[str], labels: list[str]
) -> list[list[int]]:
    """Return counts[i][j] of images of class labels[i] predicted as labels[j]."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=int)
    for true, guess in zip(truth, predicted, strict=True):
        if true in index and guess in index:
            matrix[index[true], index[guess]] += 1
    return [[int(v) for v in row] for row in matrix]


def precision_recall_f1(
    matrix: list[list[int]], positive: int | None
) -> tuple[float, float, float]:
    """Return precision, recall and F1 of the positive class, or their macro averages."""
    counts = np.asarray(matrix, dtype=float)
    true_positive = np.diag(counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.nan_to_num(true_positive / counts.sum(axis=0))
        recall = np.nan_to_num(true_positive / counts.sum(axis=1))
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    if positive is not None:
        return float(precision[positive]), float(recall[positive]), float(f1[positive])
    return float(precision.mean()), float(recall.mean()), float(f1.mean())


def roc_auc(positive: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Return the ROC AUC by the rank (Mann-Whitney U) formula; None with one class only."""
    y = np.asarray(positive, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    _, first, counts = np.unique(s[order], return_index=True, return_counts=True)
    ranks = np.empty(len(s), dtype=np.float64)
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)  # ties share their mean rank
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def percentiles(
    values: Sequence[float], points: Sequence[int] = (50, 95, 99)
) -> dict[str, float | None]:
    """Return p50/p95/p99 (nearest rank) of values, or None for each when there are none."""
    if not values:
        return {f"p{p}": None for p in points}
    array = np.asarray(values, dtype=np.float64)
    return {f"p{p}": round(float(np.percentile(array, p, method="nearest")), 3) for p in points}
