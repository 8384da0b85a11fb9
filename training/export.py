"""Export a trained model as the serving contract: `model.keras` plus `model.json`.

The pipeline stages (DVC, MLflow registration) build on `export_model`: they pass the card
they want written and add their own artefacts to the same directory afterwards.
"""

from __future__ import annotations

import logging
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from core.model_card import (
    CARD_FILE,
    INT8_FILE,
    KERAS_FILE,
    SMOKE_FILE,
    TFLITE_FILE,
    ModelCard,
    TrainingImages,
    validate_card,
)
from training.lineage import GitState, git_state

if TYPE_CHECKING:  # saving needs no import: the stage that only copies skips TensorFlow
    import keras

logger = logging.getLogger(__name__)


def model_name(architecture: str) -> str:
    """Return the served model's name for an architecture, e.g. `inferq-small-cnn`."""
    return "inferq-" + architecture.replace("_", "-")


def make_version(data_hash: str, now: datetime | None = None) -> str:
    """Return a sortable version: UTC training time and the start of the data hash."""
    moment = now or datetime.now(UTC)
    return f"{moment:%Y%m%dT%H%M%S}-{data_hash[:8]}"


def build_card(
    *,
    architecture: str,
    class_names: list[str],
    input_size: tuple[int, int],
    data_hash: str,
    metrics: dict[str, float],
    positive_class: str | None = None,
    threshold: float = 0.5,
    resample: str = "bilinear",
    name: str | None = None,
    version: str | None = None,
    training_images: TrainingImages | None = None,
    dvc_data_hash: str = "",
    git: GitState | None = None,
) -> ModelCard:
    """Describe a model: identity, input contract, threshold, metrics and lineage.

    The name defaults to one derived from the architecture and the version to the export
    time and the data hash; `git` to the state of the current directory's tree (recorded,
    not refused: refusing a dirty tree is the export stage's decision). CardError if invalid.
    """
    git = git or git_state()
    fields = {
        "name": name or model_name(architecture),
        "version": version or make_version(data_hash),
        "class_names": class_names,
        "input_size": input_size,
        "preprocessing": {"input_size": input_size, "resample": resample},
        "threshold": threshold,
        "positive_class": positive_class,
        "data_hash": data_hash,
        "git_commit": git.commit,
        "git_dirty": git.dirty,
        "dvc_data_hash": dvc_data_hash,
        "training_images": (training_images or TrainingImages()).model_dump(),
        "architecture": architecture,
        "metrics": metrics,
    }
    return validate_card(fields, source="model card")


def write_smoke_tiles(
    model: keras.Model, input_size: tuple[int, int], out_dir: Path, count: int = 4
) -> None:
    """Store a few fixed tiles and the model's outputs on them, for the worker's smoke check.

    A worker that loads this directory later must reproduce these outputs: a file damaged
    in transit, or weights that load but are not the ones exported, fail before serving.
    """
    import numpy as np

    height, width = input_size
    rng = np.random.default_rng(0)
    tiles = rng.integers(0, 256, (count, height, width, 3), dtype=np.uint8)
    tiles[0] = 0
    tiles[1] = 255
    outputs = np.asarray(model(tiles.astype("float32"), training=False), dtype=np.float32)
    np.savez_compressed(out_dir / SMOKE_FILE, tiles=tiles, outputs=outputs)


def export_model(model: keras.Model, card: ModelCard, out_dir: Path) -> Path:
    """Write `model.keras` and then `model.json` into out_dir and return the directory."""
    out_dir.mkdir(parents=True, exist_ok=True)
    # Save beside the target and rename, so a reader never sees half a model; the card goes
    # last and marks the export complete.
    partial = out_dir / f".partial-{os.getpid()}.keras"
    model.save(partial)
    (out_dir / CARD_FILE).unlink(missing_ok=True)
    partial.replace(out_dir / KERAS_FILE)
    write_smoke_tiles(model, card.input_size, out_dir)
    card.write(out_dir)
    logger.info("exported %s %s to %s", card.name, card.version, out_dir)
    return out_dir


def export_model_file(
    model_file: Path, card: ModelCard, out_dir: Path, quantized_dir: Path | None = None
) -> Path:
    """Copy a saved `.keras` file (and its smoke tiles), then write `model.json`.

    The evaluated bytes are the served bytes; no TensorFlow is needed to copy them. The
    TFLite files the card lists come from quantized_dir, with the smoke tiles recorded
    there (they hold each precision's outputs); TFLite files it does not list are removed.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = out_dir / f".partial-{os.getpid()}.keras"
    shutil.copyfile(model_file, partial)
    (out_dir / CARD_FILE).unlink(missing_ok=True)
    partial.replace(out_dir / KERAS_FILE)
    smoke = model_file.parent / SMOKE_FILE  # written beside the file by whoever saved it
    listed = {entry.file for entry in card.files} - {KERAS_FILE}
    for name in (TFLITE_FILE, INT8_FILE):
        (out_dir / name).unlink(missing_ok=True)
        if name in listed and quantized_dir is not None:
            shutil.copyfile(quantized_dir / name, out_dir / name)
            smoke = quantized_dir / SMOKE_FILE
    if smoke.exists():
        shutil.copyfile(smoke, out_dir / SMOKE_FILE)
    card.write(out_dir)
    logger.info("exported %s %s to %s", card.name, card.version, out_dir)
    return out_dir
