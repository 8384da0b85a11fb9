"""Classification metrics in plain numpy (no scikit-learn in the images), for every package.

Training scores its splits and `inferq evaluate` scores a deployed stack with these same
functions. Labels and predictions are class indices; a prediction outside the classes
(an answer from a model with other classes) counts as wrong and stays out of the
confusion matrix. Precision, recall and F1 are those of the positive class when there is
one, else their macro averages; undefined ratios count as 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Return the share of predictions equal to the labels (NaN when there are none)."""
    labels = np.asarray(labels)
    return float(np.mean(labels == np.asarray(predicted))) if len(labels) else float("nan")


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Return counts[true, predicted] as an (n_classes, n_classes) int array."""
    true, guess = np.asarray(labels, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    known = (true >= 0) & (true < n_classes) & (guess >= 0) & (guess < n_classes)
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (true[known], guess[known]), 1)
    return counts


def class_precision_recall_f1(counts: np.ndarray, index: int) -> dict[str, float]:
    """Return precision, recall and F1 of one class from a confusion matrix."""
    true_positive = float(counts[index, index])
    predicted, actual = float(counts[:, index].sum()), float(counts[index, :].sum())
    precision = true_positive / predicted if predicted else 0.0
    recall = true_positive / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def precision_recall_f1(counts: np.ndarray, index: int | None) -> dict[str, float]:
    """Return the positive class's precision/recall/F1, or their macro averages without one."""
    if index is not None:
        return class_precision_recall_f1(counts, index)
    per_class = [class_precision_recall_f1(counts, k) for k in range(len(counts))]
    return {key: float(np.mean([scores[key] for scores in per_class])) for key in per_class[0]}


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Return the ROC AUC of binary labels by the rank (Mann-Whitney U) formula; NaN if 1 class."""
    y = np.asarray(y_true).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    _, first, counts = np.unique(s[order], return_index=True, return_counts=True)
    ranks = np.empty(len(s), dtype=np.float64)
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)  # ties share their mean rank
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def class_auc(probabilities: np.ndarray, labels: np.ndarray, positive_index: int | None) -> float:
    """Return the positive class's AUC (the second of two without one), else the macro mean.

    Beyond two classes without a positive class it is the one-vs-rest mean over the
    classes that have both positives and negatives; NaN when none has.
    """
    labels = np.asarray(labels)
    n_classes = probabilities.shape[1]
    if positive_index is None and n_classes == 2:
        positive_index = 1
    if positive_index is not None:
        return roc_auc(labels == positive_index, probabilities[:, positive_index])
    per_class = [roc_auc(labels == k, probabilities[:, k]) for k in range(n_classes)]
    return float("nan") if np.all(np.isnan(per_class)) else float(np.nanmean(per_class))


def roc_curve(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return false and true positive rates at every distinct score threshold, from (0, 0)."""
    y = np.asarray(y_true).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    true_pos = np.cumsum(y)[last_of_tie]
    false_pos = (last_of_tie + 1) - true_pos
    tpr = np.r_[0.0, true_pos / max(int(y.sum()), 1)]
    fpr = np.r_[0.0, false_pos / max(int((~y).sum()), 1)]
    return fpr, tpr


def patient_accuracy(
    patient_ids: np.ndarray, labels: np.ndarray, predicted: np.ndarray
) -> tuple[float, dict[str, float]]:
    """Return the majority-vote accuracy over patients and each patient's image accuracy."""
    patient_ids, labels, predicted = (np.asarray(a) for a in (patient_ids, labels, predicted))
    per_patient: dict[str, float] = {}
    called_right = []
    for patient in sorted(set(patient_ids.tolist())):
        mask = patient_ids == patient
        per_patient[patient] = float(np.mean(labels[mask] == predicted[mask]))
        truth = np.bincount(labels[mask]).argmax()
        called_right.append(np.bincount(predicted[mask]).argmax() == truth)
    return (float(np.mean(called_right)) if called_right else float("nan")), per_patient


@dataclass(frozen=True)
class TileScores:
    """Image-level scores of one set of predictions."""

    accuracy: float
    precision: float
    recall: float
    f1: float
    roc_auc: float
    confusion: np.ndarray  # counts[true, predicted]


def score_tiles(
    probabilities: np.ndarray,
    labels: np.ndarray,
    predicted: np.ndarray,
    positive_index: int | None,
) -> TileScores:
    """Return accuracy, precision/recall/F1, ROC AUC and the confusion matrix of predictions."""
    counts = confusion_matrix(labels, predicted, probabilities.shape[1])
    return TileScores(
        accuracy=accuracy(labels, predicted),
        **precision_recall_f1(counts, positive_index),
        roc_auc=class_auc(probabilities, labels, positive_index),
        confusion=counts,
    )
