"""The evaluation report: what a pathologist asks of a test set, from predicted probabilities.

Numpy only. Per-image accuracy, precision, recall, F1 and ROC AUC of the positive class,
the confusion matrix, and per-patient results (a patient is called by the majority of its
images, as a reader would), with 95% intervals of accuracy, AUC and patient accuracy by
bootstrap over patients (core.metrics).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from core.decision import DecisionRule
from core.metrics import bootstrap_intervals, majority_calls, patient_accuracy, score_tiles


def decision_rule(
    class_names: Sequence[str], threshold: float, positive_class: str | None
) -> DecisionRule:
    """Return the card's decision rule for these classes (no positive class if it is absent)."""
    positive = positive_class if positive_class in class_names else None
    return DecisionRule(tuple(class_names), threshold, positive)


def report_intervals(
    probabilities: np.ndarray,
    labels: np.ndarray,
    predicted: np.ndarray,
    patient_ids: np.ndarray,
    rule: DecisionRule,
) -> dict[str, list[float] | None]:
    """Return 95% intervals of accuracy, AUC and patient accuracy, over patients."""
    column = 1 if rule.positive_index is None else rule.positive_index
    binary = rule.positive_index is not None or probabilities.shape[1] == 2
    truth, column_scores = (labels == column, probabilities[:, column]) if binary else (None, None)
    calls = majority_calls(patient_ids, labels, predicted)
    found = bootstrap_intervals(patient_ids, labels == predicted, truth, column_scores, calls)
    return {name: list(bounds) if bounds else None for name, bounds in found.items()}


def evaluate_predictions(
    probabilities: np.ndarray,
    labels: np.ndarray,
    patient_ids: np.ndarray,
    class_names: Sequence[str],
    *,
    threshold: float = 0.5,
    positive_class: str | None = None,
) -> dict[str, Any]:
    """Return the report of one split: scores, confusion matrix, per-patient accuracy."""
    if not len(labels):
        return {"n_images": 0}
    rule = decision_rule(class_names, threshold, positive_class)
    predicted = rule.indices(probabilities)
    scores = score_tiles(probabilities, labels, predicted, rule.positive_index)
    counts = scores.confusion
    by_patient, per_patient = patient_accuracy(patient_ids, labels, predicted)
    intervals = report_intervals(probabilities, labels, predicted, patient_ids, rule)
    return {
        "accuracy": scores.accuracy,
        "roc_auc": scores.roc_auc,
        "precision": scores.precision,
        "recall": scores.recall,
        "f1": scores.f1,
        "patient_accuracy": by_patient,
        "mean_patient_accuracy": float(np.mean(list(per_patient.values()))),
        "min_patient_accuracy": float(min(per_patient.values())),
        "n_images": len(labels),
        "n_patients": len(per_patient),
        "intervals_95": {
            name: list(bounds) if bounds else None for name, bounds in intervals.items()
        },
        "confusion_matrix": {
            f"true_{true}": {
                f"predicted_{pred}": int(counts[i, j]) for j, pred in enumerate(class_names)
            }
            for i, true in enumerate(class_names)
        },
    }


def card_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    """Flatten the metrics report into the model card's `metrics` (test_accuracy, test_auc, ...)."""
    flat: dict[str, float] = {}
    for split in ("test", "val"):
        for key, value in report.get(split, {}).items():
            if isinstance(value, int | float):
                name = "auc" if key == "roc_auc" else key
                flat[f"{split}_{name}"] = float(value)
    for key, value in report.get("image_level_split", {}).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            flat[f"image_level_{key}"] = float(value)
    flat.update({k: float(v) for k, v in report.get("training", {}).items()})
    return flat
