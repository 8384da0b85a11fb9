"""Stage `export`: write `models/default/` for the workers and register it in MLflow.

The directory holds the evaluated `model.keras` (copied, not re-saved) and `model.json`
(name, version, classes, input size, threshold, preprocessing, data hash, git commit and
the evaluation's metrics). DVC tracks it (CD pulls it into the worker image); MLflow gets a
new version of the registered model with the alias from params (`champion`), which workers
load with `INFERQ_MODEL_URI=models:/<name>@champion`.
"""

from __future__ import annotations

import logging
from typing import Any

import typer

from core.model_card import ModelCard
from core.settings import get_settings
from training.export import build_card, export_model_file, model_name
from training.params import PipelineParams
from training.report import card_metrics
from training.stages.common import (
    CANDIDATE_MODEL,
    METRICS_FILE,
    MODEL_DIR,
    PREPARED_DIR,
    REGISTRATION_FILE,
    RUN_FILE,
    SPLIT_REPORT,
    read_json,
    stage_command,
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


def make_card(params: PipelineParams) -> ModelCard:
    """Describe the candidate: identity, input contract, decision rule, data and metrics."""
    meta = read_json(PREPARED_DIR / "meta.json")
    positive = params.evaluate.positive_class
    card = build_card(
        architecture=params.train.architecture,
        class_names=meta["class_names"],
        input_size=params.prepare.input_size,
        data_hash=meta["data_hash"],
        metrics=_metrics(),
        positive_class=positive if positive in meta["class_names"] else None,
        threshold=params.evaluate.threshold,
        resample=params.prepare.resample,
    )
    name = params.registry.model_name or model_name(params.train.architecture)
    return card.model_copy(update={"name": name})


def export(params: PipelineParams) -> str:
    """Export the evaluated model to models/default and register it under the alias."""
    card = make_card(params)
    export_model_file(CANDIDATE_MODEL, card, MODEL_DIR)
    run_id = read_json(RUN_FILE)["run_id"]
    tags = {"card_version": card.version, "data_hash": card.data_hash}
    tags |= {"git_commit": card.git_commit} if card.git_commit else {}
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


if __name__ == "__main__":
    typer.run(stage_command(export))
