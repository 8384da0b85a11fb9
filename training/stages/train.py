"""Stage `train`: fit the model the params choose on the prepared splits, tracked in MLflow.

Writes the candidate to `data/model/` (model.keras, history.json, run.json with the MLflow
run ID the later stages log to). Augmentation, early stopping and class weights live in
training.train.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import keras
import typer
from mlflow.tracking import MlflowClient

from core.settings import get_settings
from training.export import write_smoke_tiles
from training.model_zoo import build_model
from training.params import PipelineParams, flatten_params
from training.prepare import PreparedData, load_split
from training.stages.common import (
    CANDIDATE_DIR,
    CANDIDATE_MODEL,
    HISTORY_FILE,
    PREPARED_DIR,
    RUN_FILE,
    SPLITS,
    read_json,
    stage_command,
    write_json,
)
from training.tracking import client_for, finish_run, log_metrics, start_run
from training.train import FitOptions, configure_threads, fit_history

logger = logging.getLogger(__name__)


def load_prepared() -> PreparedData:
    """Load the prepared splits and their metadata."""
    meta = read_json(PREPARED_DIR / "meta.json")
    parts = {name: load_split(PREPARED_DIR / f"{name}.npz").arrays() for name in SPLITS}
    return PreparedData(
        meta["class_names"], meta["data_hash"], parts["train"], parts["val"], parts["test"]
    )


def fit_options(params: PipelineParams) -> FitOptions:
    """Return the fit options the params ask for."""
    options = params.train
    return FitOptions(
        epochs=options.epochs,
        seed=params.seed,
        batch_size=options.batch_size,
        learning_rate=options.learning_rate,
        patience=options.patience,
        class_weights=options.class_weights,
    )


def fit_candidate(
    params: PipelineParams,
    data: PreparedData,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Build the model the params name and fit it; return it with its history."""
    configure_threads(get_settings().tf_threads)
    keras.utils.set_random_seed(params.seed)
    options = params.train
    model = build_model(
        options.architecture, params.prepare.input_size, len(data.class_names), options.weights
    )
    return model, fit_history(model, data, fit_options(params), callbacks)


def _epoch_logger(client: MlflowClient, run_id: str) -> keras.callbacks.Callback:
    """Return a callback that logs each epoch's metrics to the run as it ends."""
    return keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: log_metrics(
            client, run_id, {k: float(v) for k, v in (logs or {}).items()}, step=epoch + 1
        )
    )


def train(params: PipelineParams) -> str:
    """Train the candidate model, logging params and per-epoch metrics to MLflow."""
    data = load_prepared()
    if not len(data.train.labels):
        raise ValueError("the train split is empty")
    client = client_for(get_settings().mlflow_tracking_uri)
    name = f"{params.train.architecture}-{data.data_hash[:8]}"
    run_id = start_run(client, flatten_params(params) | {"data_hash": data.data_hash}, name)
    try:
        model, history = fit_candidate(params, data, [_epoch_logger(client, run_id)])
    except BaseException:
        finish_run(client, run_id, "FAILED")
        raise
    CANDIDATE_DIR.mkdir(parents=True, exist_ok=True)
    model.save(CANDIDATE_MODEL)
    write_smoke_tiles(model, params.prepare.input_size, CANDIDATE_DIR)
    write_json(history, HISTORY_FILE)
    client.log_artifact(run_id, str(HISTORY_FILE))
    finish_run(client, run_id)
    epochs = len(history["loss"])
    write_json({"run_id": run_id, "epochs": epochs}, RUN_FILE)
    return f"trained {params.train.architecture} for {epochs} epochs (MLflow run {run_id})"


if __name__ == "__main__":
    typer.run(stage_command(train))
