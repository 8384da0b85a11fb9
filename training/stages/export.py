"""Stage `export`: write `models/default/` for the workers and register it in MLflow.

The directory holds the evaluated `model.keras` (copied, not re-saved), the quantize
stage's `model.tflite` and `model-int8.tflite` (an int8 file that lost more test accuracy
or AUC than `quantization.max_accuracy_drop` / `max_auc_drop` is refused) and `model.json`
(name, version, classes, input size, threshold, preprocessing, data hash, the evaluation's
metrics, and lineage: the git commit with `git_dirty`, the md5 dvc.lock recorded for the
prepared data the train stage read, and what the training images looked like). A tree with
uncommitted changes outside the pipeline's own outputs is refused unless `--allow-dirty`
or `registry.allow_dirty: true`; the card then says `git_dirty: true`.

DVC tracks the directory (CD pulls it into the worker image); MLflow gets a new version of
the registered model with the alias from params (`champion`), which workers load
with `INFERQ_MODEL_URI=models:/<name>@champion`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import typer

from core.model_card import ModelCard, TrainingImages
from core.model_files import ModelFile, describe
from core.settings import get_settings
from training.export import build_card, export_model_file, model_name
from training.lineage import dvc_data_hash, git_state, require_clean
from training.params import PARAMS_FILE, PipelineParams
from training.quantize import check_int8, file_entries
from training.report import card_metrics
from training.stages.common import (
    CANDIDATE_MODEL,
    METRICS_FILE,
    MODEL_DIR,
    PREPARED_DIR,
    QUANTIZATION_REPORT,
    QUANTIZED_DIR,
    REGISTRATION_FILE,
    RUN_FILE,
    SPLIT_REPORT,
    read_json,
    run_stage,
    write_json,
)
from training.tracking import client_for, register_model_dir

logger = logging.getLogger(__name__)


def _metrics() -> dict[str, float]:
    """Return the card's metrics: the evaluation's plus the split sizes."""
    metrics = card_metrics(read_json(METRICS_FILE))
    for name, counts in read_json(SPLIT_REPORT)["patient_level"].items():
        metrics[f"n_{name}"] = float(counts["images"])
        metrics[f"n_{name}_patients"] = float(counts["patients"])
    return metrics


def training_images(meta: dict[str, Any], params: PipelineParams) -> TrainingImages:
    """Return what prepare learnt of the training images, with the magnification kept."""
    described = TrainingImages.model_validate(meta.get("training_images", {}))
    return described.model_copy(update={"magnification": params.ingest.magnification})


def make_card(params: PipelineParams) -> ModelCard:
    """Describe the candidate: identity, input contract, decision rule, data and lineage.

    DirtyTreeError when the tree has uncommitted changes and dirt is not allowed.
    """
    meta = read_json(PREPARED_DIR / "meta.json")
    positive = params.evaluate.positive_class
    git = git_state()
    require_clean(git, allow_dirty=params.registry.allow_dirty)
    card = build_card(
        architecture=params.train.architecture,
        class_names=meta["class_names"],
        input_size=params.prepare.input_size,
        data_hash=meta["data_hash"],
        metrics=_metrics(),
        positive_class=positive if positive in meta["class_names"] else None,
        threshold=params.evaluate.threshold,
        resample=params.prepare.resample,
        training_images=training_images(meta, params),
        dvc_data_hash=dvc_data_hash(),
        git=git,
    )
    name = params.registry.model_name or model_name(params.train.architecture)
    return card.model_copy(update={"name": name})


def quantized_files(params: PipelineParams) -> list[ModelFile]:
    """Return the card's files from the quantize stage; QuantizationError if int8 lost too much."""
    report = read_json(QUANTIZATION_REPORT) if QUANTIZATION_REPORT.exists() else {}
    if not report.get("enabled"):
        return []
    files = file_entries(report["precisions"])
    limits = params.quantization
    check_int8(files, max_accuracy_drop=limits.max_accuracy_drop, max_auc_drop=limits.max_auc_drop)
    return files


def export(params: PipelineParams) -> str:
    """Export the evaluated model to models/default and register it under the alias."""
    card = make_card(params)
    card = card.model_copy(update={"files": quantized_files(params)})
    export_model_file(CANDIDATE_MODEL, card, MODEL_DIR, QUANTIZED_DIR)
    run_id = read_json(RUN_FILE)["run_id"]
    tags = {"card_version": card.version, "data_hash": card.data_hash}
    tags |= {"git_commit": card.git_commit} if card.git_commit else {}
    tags |= {"git_dirty": str(card.git_dirty).lower()}
    tags |= {"dvc_data_hash": card.dvc_data_hash} if card.dvc_data_hash else {}
    tags |= {"files": describe(card.model_files)}
    registration = register_model_dir(
        client_for(get_settings().mlflow_tracking_uri),
        run_id,
        MODEL_DIR,
        name=card.name,
        alias=params.registry.alias,
        tags=tags,
    )
    record: dict[str, Any] = vars(registration) | {"card_version": card.version}
    write_json(record, REGISTRATION_FILE)
    return (
        f"exported {card.name} {card.version} to {MODEL_DIR}; registered as "
        f"models:/{registration.name}@{registration.alias} (version {registration.version})"
    )


def command(
    params: Path = typer.Option(PARAMS_FILE, "--params", help="Pipeline parameters file."),
    allow_dirty: bool = typer.Option(
        False, "--allow-dirty", help="Export from a tree with uncommitted changes."
    ),
) -> None:
    """Export the evaluated model to models/default and register it under the alias."""

    def stage(loaded: PipelineParams) -> str:
        if allow_dirty:
            registry = loaded.registry.model_copy(update={"allow_dirty": True})
            loaded = loaded.model_copy(update={"registry": registry})
        return export(loaded)

    run_stage(stage, params)  # a dirty tree: one line on stderr and exit 1


if __name__ == "__main__":
    typer.run(command)
