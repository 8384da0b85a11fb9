"""Stage `evaluate`: score the candidate on the patient-level test split.

Writes `reports/metrics.json` (DVC metrics: test and val scores, per-patient accuracy, the
image-level split's score for contrast), `reports/predictions.csv` and
`reports/per_patient.csv`, and the PNG plots in `reports/plots/`; logs all of it to the
training run in MLflow.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import keras
import numpy as np
import typer

from core.csv_cells import csv_writer
from core.metrics import bootstrap_accuracy_gap, confusion_matrix, patient_accuracy, roc_curve
from core.settings import get_settings
from training.params import PipelineParams
from training.plots import plot_confusion, plot_history, plot_roc
from training.prepare import PreparedSplit, load_split
from training.report import card_metrics, decision_rule, evaluate_predictions
from training.stages.common import (
    CANDIDATE_MODEL,
    HISTORY_FILE,
    LEAKAGE_OUTCOMES,
    LEAKAGE_REPORT,
    METRICS_FILE,
    PLOTS_DIR,
    PREDICTIONS_FILE,
    PREPARED_DIR,
    REPORTS_DIR,
    RUN_FILE,
    read_json,
    stage_command,
    write_json,
)
from training.tracking import client_for, log_metrics
from training.train import predict_probabilities

logger = logging.getLogger(__name__)
PER_PATIENT_FILE = REPORTS_DIR / "per_patient.csv"


def write_predictions(split: PreparedSplit, scores: np.ndarray, names: list[str]) -> Path:
    """Write each test image's label, prediction and class scores."""
    PREDICTIONS_FILE.parent.mkdir(parents=True, exist_ok=True)
    with PREDICTIONS_FILE.open("w", newline="") as handle:
        writer = csv_writer(handle)
        writer.writerow(["path", "patient_id", "label", *(f"score_{name}" for name in names)])
        for path, patient, label, row in zip(
            split.paths, split.patient_ids, split.labels, scores, strict=True
        ):
            writer.writerow([path, patient, names[label], *(f"{s:.6f}" for s in row)])
    return PREDICTIONS_FILE


def write_per_patient(split: PreparedSplit, predicted: np.ndarray) -> Path:
    """Write each test patient's image count and image accuracy."""
    _, per_patient = patient_accuracy(split.patient_ids, split.labels, predicted)
    with PER_PATIENT_FILE.open("w", newline="") as handle:
        writer = csv_writer(handle)
        writer.writerow(["patient_id", "images", "accuracy"])
        for patient, accuracy in per_patient.items():
            writer.writerow([patient, int(np.sum(split.patient_ids == patient)), f"{accuracy:.4f}"])
    return PER_PATIENT_FILE


def draw_plots(
    split: PreparedSplit, scores: np.ndarray, names: list[str], params: PipelineParams
) -> None:
    """Draw the ROC curve, the confusion matrix and the training curves."""
    rule = decision_rule(names, params.evaluate.threshold, params.evaluate.positive_class)
    column = 1 if rule.positive_index is None else rule.positive_index
    fpr, tpr = roc_curve(split.labels == column, scores[:, column])
    auc = float(np.trapezoid(tpr, fpr))
    plot_roc(fpr, tpr, auc, PLOTS_DIR / "roc.png")
    predicted = rule.indices(scores)
    counts = confusion_matrix(split.labels, predicted, len(names))
    plot_confusion(counts, names, PLOTS_DIR / "confusion_matrix.png")
    plot_history(read_json(HISTORY_FILE), PLOTS_DIR / "training_curves.png")


def _score(
    model: keras.Model, name: str, names: list[str], params: PipelineParams
) -> tuple[PreparedSplit, np.ndarray, dict[str, Any]]:
    """Predict one prepared split and return it, its scores and its report."""
    split = load_split(PREPARED_DIR / f"{name}.npz")
    scores = predict_probabilities(model, split.images)
    report = evaluate_predictions(
        scores,
        split.labels,
        split.patient_ids,
        names,
        threshold=params.evaluate.threshold,
        positive_class=params.evaluate.positive_class,
    )
    return split, scores, report


def leakage_gap(test: PreparedSplit, predicted: np.ndarray) -> dict[str, Any]:
    """Return the image-level split's accuracy minus the patient-level one, with its interval."""
    leaky = read_json(LEAKAGE_REPORT)
    if not leaky.get("enabled") or not LEAKAGE_OUTCOMES.exists():
        return leaky
    with LEAKAGE_OUTCOMES.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    outcomes = (
        np.array([row["patient_id"] for row in rows], dtype=str),
        np.array([row["correct"] == "1" for row in rows], dtype=bool),
    )
    gap, interval = bootstrap_accuracy_gap(outcomes, (test.patient_ids, test.labels == predicted))
    return leaky | {"accuracy_gap": gap, "accuracy_gap_interval_95": interval}


def _log_to_mlflow(run_id: str, report: dict[str, Any]) -> None:
    """Add the evaluation's metrics, plots and tables to the training run."""
    client = client_for(get_settings().mlflow_tracking_uri)
    log_metrics(client, run_id, card_metrics(report))
    client.log_artifacts(run_id, str(PLOTS_DIR), artifact_path="plots")
    for path in (METRICS_FILE, PREDICTIONS_FILE, PER_PATIENT_FILE):
        client.log_artifact(run_id, str(path), artifact_path="reports")


def evaluate(params: PipelineParams) -> str:
    """Evaluate the candidate on the test split and report, plot and log the results."""
    names: list[str] = read_json(PREPARED_DIR / "meta.json")["class_names"]
    model = keras.models.load_model(CANDIDATE_MODEL, compile=False)
    test, scores, test_report = _score(model, "test", names, params)
    run = read_json(RUN_FILE)
    rule = decision_rule(names, params.evaluate.threshold, params.evaluate.positive_class)
    report = {
        "test": test_report,
        "val": _score(model, "val", names, params)[2],
        "image_level_split": leakage_gap(test, rule.indices(scores)),
        "training": {"epochs": run["epochs"]},
    }
    write_json(report, METRICS_FILE)
    write_predictions(test, scores, names)
    write_per_patient(test, rule.indices(scores))
    draw_plots(test, scores, names, params)
    _log_to_mlflow(run["run_id"], report)
    return (
        f"test accuracy {test_report['accuracy']:.3f}, AUC {test_report['roc_auc']:.3f}, "
        f"patient accuracy {test_report['patient_accuracy']:.3f} "
        f"({test_report['n_patients']} patients)"
    )


if __name__ == "__main__":
    typer.run(stage_command(evaluate))
