"""The evaluation report: what a pathologist asks of a test set, from predicted probabilities.

Numpy only. Per-image accuracy, precision, recall, F1 and ROC AUC of the positive class,
the confusion matrix, and per-patient results (a patient is called by the majority of its
images, as a reader would).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from training.metrics import (
    classification_metrics,
    confusion_matrix,
    patient_accuracy,
    precision_recall_f1,
    predict_labels,
)


def positive_index(class_names: Sequence[str], positive_class: str | None) -> int | None:
    """Return the positive class's index, or None when it is absent."""
    if positive_class is None or positive_class not in class_names:
        return None
    return list(class_names).index(positive_class)


def _scores(counts: np.ndarray, index: int | None) -> dict[str, float]:
    """Return the positive class's precision/recall/F1, or their macro average without one."""
    if index is not None:
        return precision_recall_f1(counts, index)
    per_class = [precision_recall_f1(counts, k) for k in range(len(counts))]
    return {key: float(np.mean([scores[key] for scores in per_class])) for key in per_class[0]}


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
    index = positive_index(class_names, positive_class)
    predicted = predict_labels(probabilities, threshold, index)
    base = classification_metrics(probabilities, labels, threshold=threshold, positive_index=index)
    counts = confusion_matrix(labels, predicted, len(class_names))
    by_patient, per_patient = patient_accuracy(patient_ids, labels, predicted)
    return {
        "accuracy": base["accuracy"],
        "roc_auc": base["auc"],
        **_scores(counts, index),
        "patient_accuracy": by_patient,
        "mean_patient_accuracy": float(np.mean(list(per_patient.values()))),
        "min_patient_accuracy": float(min(per_patient.values())),
        "n_images": len(labels),
        "n_patients": len(per_patient),
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
