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


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Return counts[true, predicted] as an (n_classes, n_classes) int array."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(labels), np.asarray(predicted)), 1)
    return counts


def precision_recall_f1(counts: np.ndarray, index: int) -> dict[str, float]:
    """Return precision, recall and F1 of one class from a confusion matrix (0 when undefined)."""
    true_positive = float(counts[index, index])
    predicted, actual = float(counts[:, index].sum()), float(counts[index, :].sum())
    precision = true_positive / predicted if predicted else 0.0
    recall = true_positive / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


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
    per_patient: dict[str, float] = {}
    called_right = []
    for patient in sorted(set(np.asarray(patient_ids).tolist())):
        mask = np.asarray(patient_ids) == patient
        per_patient[patient] = float(np.mean(labels[mask] == predicted[mask]))
        truth = np.bincount(labels[mask]).argmax()
        called_right.append(np.bincount(predicted[mask]).argmax() == truth)
    return (float(np.mean(called_right)) if called_right else float("nan")), per_patient
