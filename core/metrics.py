"""Classification metrics in plain numpy (no scikit-learn in the images), for every package.

Training scores its splits and `inferq evaluate` scores a deployed stack with these same
functions. Labels and predictions are class indices; a prediction outside the classes
(an answer from a model with other classes) counts as wrong and stays out of the
confusion matrix. Precision, recall and F1 are those of the positive class when there is
one, else their macro averages; undefined ratios count as 0.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0


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
    per_patient = {
        patient: float(np.mean(labels[patient_ids == patient] == predicted[patient_ids == patient]))
        for patient in sorted(set(patient_ids.tolist()))
    }
    calls = list(majority_calls(patient_ids, labels, predicted).values())
    return (float(np.mean(calls)) if calls else float("nan")), per_patient


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


def majority_calls(
    patient_ids: np.ndarray, labels: np.ndarray, predicted: np.ndarray
) -> dict[str, bool]:
    """Return, per patient, whether the majority of its predictions is its majority label."""
    patient_ids, labels, predicted = (np.asarray(a) for a in (patient_ids, labels, predicted))
    calls = {}
    for patient in sorted(set(patient_ids.tolist())):
        mask = patient_ids == patient
        truth = np.bincount(labels[mask]).argmax()
        calls[patient] = bool(np.bincount(predicted[mask]).argmax() == truth)
    return calls


def _percentile_interval(values: list[float]) -> tuple[float, float] | None:
    """Return the 2.5th and 97.5th percentiles of the defined values, or None."""
    defined = np.asarray(values, dtype=np.float64)
    defined = defined[~np.isnan(defined)]
    if not len(defined):
        return None
    low, high = np.percentile(defined, [2.5, 97.5])
    return float(low), float(high)


def resample_patients(
    patients: list[str], patient_ids: np.ndarray, resamples: int, seed: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (drawn patient positions, their tiles' indices) for each bootstrap resample."""
    tiles = [np.flatnonzero(patient_ids == patient) for patient in patients]
    rng = np.random.default_rng(seed)
    for _ in range(resamples if patients else 0):
        drawn = rng.integers(0, len(patients), len(patients))
        yield drawn, np.concatenate([tiles[i] for i in drawn])


def bootstrap_intervals(
    patient_ids: np.ndarray,
    correct: np.ndarray,
    auc_truth: np.ndarray | None,
    auc_scores: np.ndarray | None,
    patient_correct: Mapping[str, bool],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, tuple[float, float] | None]:
    """Return 95% intervals of tile accuracy, tile AUC and patient accuracy, over patients.

    Each resample draws the patients (those with tiles and those in `patient_correct`)
    with replacement and recomputes the three figures on the drawn patients' tiles and
    calls; a fixed seed makes the intervals reproducible. AUC is skipped without scores.
    """
    patient_ids, correct = np.asarray(patient_ids), np.asarray(correct, dtype=bool)
    patients = sorted(set(patient_ids.tolist()) | set(patient_correct))
    called = np.array([float(patient_correct.get(p, np.nan)) for p in patients])
    figures: dict[str, list[float]] = {"accuracy": [], "roc_auc": [], "patient_accuracy": []}
    for drawn, index in resample_patients(patients, patient_ids, resamples, seed):
        figures["accuracy"].append(float(np.mean(correct[index])) if len(index) else np.nan)
        if auc_truth is not None and auc_scores is not None:
            figures["roc_auc"].append(roc_auc(auc_truth[index], auc_scores[index]))
        calls = called[drawn][~np.isnan(called[drawn])]
        figures["patient_accuracy"].append(float(np.mean(calls)) if len(calls) else np.nan)
    return {name: _percentile_interval(values) for name, values in figures.items()}


def bootstrap_accuracy_gap(
    first: tuple[np.ndarray, np.ndarray],
    second: tuple[np.ndarray, np.ndarray],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, tuple[float, float] | None]:
    """Return first's accuracy minus second's and its 95% interval (patients resampled apart).

    Each argument is (patient_ids, correct) per tile; the two sets are resampled
    independently, so the interval holds for accuracies measured on different images.
    """
    accuracies = []
    for offset, (patient_ids, correct) in enumerate((first, second)):
        ids, right = np.asarray(patient_ids), np.asarray(correct, dtype=bool)
        patients = sorted(set(ids.tolist()))
        draws = resample_patients(patients, ids, resamples, seed + offset)
        accuracies.append(np.array([np.mean(right[index]) for _, index in draws]))
    gap = float(np.mean(first[1]) - np.mean(second[1]))
    if not all(len(values) for values in accuracies):
        return gap, None
    return gap, _percentile_interval(list(accuracies[0] - accuracies[1]))
