"""Bring your own model: check a `.keras` file against the card it will be served with.

Workers feed a model one batch of uint8 RGB images of the card's input size, cast to
float32 (any rescaling belongs inside the model), and label each image with the argmax of
one probability per class, in `class_names` order. This module refuses, before anything is
written, a file that cannot keep that contract; a binary model that ends in one sigmoid unit
(the probability of the second class) gets a fixed layer that outputs both columns,
`[1 - p, p]`, so workers need no special case. Imports TensorFlow: call it from commands.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

from core.model_card import ModelCard
from training.export import (
    build_card,
    export_model,
    export_model_file,
    make_version,
    write_smoke_tiles,
)

logger = logging.getLogger(__name__)

#: How far from 1 a softmax row may sum (float32 rounding over many classes).
SUM_TOLERANCE = 1e-3


class ModelFileError(ValueError):
    """Raised when a model file cannot be served with its card; the message says why."""


def file_digest(path: Path) -> str:
    """Return the SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def card_for_import(
    model_file: Path,
    *,
    class_names: list[str],
    input_size: tuple[int, int],
    threshold: float = 0.5,
    positive_class: str | None = None,
    name: str | None = None,
    version: str | None = None,
    resample: str = "bilinear",
    data_hash: str = "",
) -> ModelCard:
    """Build the card an imported model is served with; CardError names a bad field.

    The name defaults to the file's stem and the version to the time and the file's hash.
    """
    return build_card(
        architecture="imported",
        class_names=class_names,
        input_size=input_size,
        data_hash=data_hash,
        metrics={},
        positive_class=positive_class,
        threshold=threshold,
        resample=resample,
        name=name or model_file.stem,
        version=version or make_version(file_digest(model_file)),
    )


def load_keras(model_file: Path) -> Any:
    """Load a `.keras` file as the worker does (safe mode, not compiled)."""
    import keras

    try:
        return keras.models.load_model(model_file, compile=False)
    except Exception as exc:  # Keras raises many types for a bad file; all mean "cannot load"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"{model_file}: cannot load it as a Keras model ({reason})") from exc


def check_input(model: Any, input_size: tuple[int, int]) -> None:
    """Refuse a model that does not take one (batch, height, width, 3) input of this size."""
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) != 1:
        raise ModelFileError(f"the model takes {len(inputs)} inputs; workers feed one image batch")
    shape = tuple(inputs[0].shape)
    if len(shape) != 4 or shape[3] != 3:
        raise ModelFileError(
            f"the model's input shape is {shape}; workers feed (batch, height, width, 3) RGB"
        )
    height, width = input_size
    if shape[1] not in (None, height) or shape[2] not in (None, width):
        raise ModelFileError(
            f"--input-size {height}x{width} does not match the model's input "
            f"{shape[1]}x{shape[2]} (height x width)"
        )


def output_width(model: Any, n_classes: int) -> int:
    """Return the output width: one column per class, or 1 for a binary sigmoid."""
    outputs = getattr(model, "outputs", None) or []
    shape = tuple(outputs[0].shape) if len(outputs) == 1 else ()
    if len(shape) != 2:
        raise ModelFileError(
            f"the model's output is {shape or len(outputs)}; expected one (batch, classes) output"
        )
    width = int(shape[1])
    if width == n_classes or (width == 1 and n_classes == 2):
        return width
    hint = " (one sigmoid unit serves exactly two classes)" if width == 1 else ""
    raise ModelFileError(
        f"--classes names {n_classes} classes but the model outputs {width} columns{hint}"
    )


def two_columns(model: Any) -> Any:
    """Wrap a one-unit sigmoid model so it outputs `[1 - p, p]`, with fixed weights."""
    import keras

    inputs = keras.Input(shape=tuple(model.inputs[0].shape[1:]), name="images")
    head = keras.layers.Dense(2, trainable=False, name="sigmoid_as_two_classes")
    outputs = head(model(inputs))
    head.set_weights([np.array([[-1.0, 1.0]], "float32"), np.array([1.0, 0.0], "float32")])
    return keras.Model(inputs, outputs, name=model.name)


def check_probabilities(model: Any, input_size: tuple[int, int]) -> None:
    """Refuse a model whose outputs on black, white and noise images are not probabilities."""
    height, width = input_size
    noise = np.random.default_rng(0).integers(0, 256, (height, width, 3))
    images = np.stack([np.zeros_like(noise), np.full_like(noise, 255), noise]).astype("float32")
    scores = np.asarray(model(images, training=False), dtype="float64")
    if not np.isfinite(scores).all() or scores.min() < 0 or scores.max() > 1:
        raise ModelFileError(
            f"the model's outputs range over [{scores.min():.3g}, {scores.max():.3g}], not "
            "probabilities: end it with a softmax (or one sigmoid unit for two classes)"
        )
    sums = scores.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=SUM_TOLERANCE):
        raise ModelFileError(
            f"the model's output rows sum to {', '.join(f'{s:.3g}' for s in sums)}, not 1: "
            "end it with a softmax over the classes (independent sigmoids are not supported)"
        )


def import_model(model_file: Path, card: ModelCard, out_dir: Path) -> int:
    """Check a `.keras` file against the card, then write out_dir; return its output width."""
    model = load_keras(model_file)
    check_input(model, card.input_size)
    width = output_width(model, len(card.class_names))
    served = two_columns(model) if width == 1 else model
    check_probabilities(served, card.input_size)
    if width == 1:
        export_model(served, card, out_dir)
    else:  # the checked bytes, served as they are, with the outputs they gave for the worker
        out_dir.mkdir(parents=True, exist_ok=True)
        write_smoke_tiles(served, card.input_size, out_dir)
        export_model_file(model_file, card, out_dir)
    logger.info("imported %s as %s %s", model_file, card.name, card.version)
    return width
