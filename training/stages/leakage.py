"""Stage `leakage`: train the same recipe on the image-level split and test it there.

A split that puts one patient's tiles on both sides lets a model recognise the patient
(stain, scanner, tumour grade) instead of the disease, so it scores higher than it will on
new patients. This stage measures by how much; `evaluate` reports it beside the real score.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import typer

from core.csv_cells import csv_writer
from training.params import PipelineParams
from training.prepare import (
    Arrays,
    PreparedData,
    PreparedSplit,
    concat_splits,
    load_split,
    select,
)
from training.report import decision_rule, evaluate_predictions
from training.rows import read_rows
from training.stages.common import (
    IMAGE_SPLIT_DIR,
    LEAKAGE_OUTCOMES,
    LEAKAGE_REPORT,
    PREPARED_DIR,
    SPLIT_REPORT,
    SPLITS,
    read_json,
    stage_command,
    write_json,
)
from training.stages.train import fit_candidate
from training.train import predict_probabilities

logger = logging.getLogger(__name__)


def _image_level_splits() -> dict[str, PreparedSplit]:
    """Regroup the prepared images by the image-level split tables."""
    every = concat_splits([load_split(PREPARED_DIR / f"{name}.npz") for name in SPLITS])
    where = {path: index for index, path in enumerate(every.paths.tolist())}
    return {
        name: select(
            every, [where[row["path"]] for row in read_rows(IMAGE_SPLIT_DIR / f"{name}.csv")]
        )
        for name in SPLITS
    }


def write_outcomes(test: PreparedSplit, predicted: np.ndarray) -> None:
    """Write each image-level test image's patient and whether it was labelled right."""
    LEAKAGE_OUTCOMES.parent.mkdir(parents=True, exist_ok=True)
    with LEAKAGE_OUTCOMES.open("w", newline="") as handle:
        writer = csv_writer(handle)
        writer.writerow(["patient_id", "correct"])
        for patient, right in zip(test.patient_ids, test.labels == predicted, strict=True):
            writer.writerow([patient, int(right)])


def _test_leaky_model(params: PipelineParams) -> dict[str, Any]:
    """Fit on the image-level train split and return the image-level test report."""
    meta = read_json(PREPARED_DIR / "meta.json")
    splits = _image_level_splits()
    arrays: dict[str, Arrays] = {name: split.arrays() for name, split in splits.items()}
    data = PreparedData(
        meta["class_names"], meta["data_hash"], arrays["train"], arrays["val"], arrays["test"]
    )
    model, history = fit_candidate(params, data)
    test = splits["test"]
    scores = predict_probabilities(model, test.images)
    write_outcomes(
        test,
        decision_rule(
            meta["class_names"], params.evaluate.threshold, params.evaluate.positive_class
        ).indices(scores),
    )
    report = evaluate_predictions(
        scores,
        test.labels,
        test.patient_ids,
        meta["class_names"],
        threshold=params.evaluate.threshold,
        positive_class=params.evaluate.positive_class,
    )
    return {
        "test_accuracy": report.get("accuracy", float("nan")),
        "test_roc_auc": report.get("roc_auc", float("nan")),
        "test_intervals_95": report.get("intervals_95", {}),
        "epochs": len(history["loss"]),
    }


def leakage(params: PipelineParams) -> str:
    """Score the image-level split with the same recipe (or skip when disabled)."""
    if not params.leakage.enabled:
        write_json({"enabled": False}, LEAKAGE_REPORT)
        return "leakage check disabled"
    shared = read_json(SPLIT_REPORT)["image_level"]["shared_patients"]
    report = {"enabled": True, "shared_patients": shared, **_test_leaky_model(params)}
    write_json(report, LEAKAGE_REPORT)
    return (
        f"image-level split: test accuracy {report['test_accuracy']:.3f}, "
        f"AUC {report['test_roc_auc']:.3f} ({shared} patients on both sides)"
    )


if __name__ == "__main__":
    typer.run(stage_command(leakage))
