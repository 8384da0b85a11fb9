"""Tiny Keras models saved as `.keras` files, as a user would bring them to `models import`."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

#: The colour model's classes, in its output order: the dominant channel of the image.
COLOURS = ["red", "green", "blue"]


def colour_model(path: Path, size: int = 32, *, activation: str | None = "softmax") -> Path:
    """Save a model whose classes are the image's dominant channel: red, green or blue.

    Rescaling to [0, 1] is inside the model, as the input convention asks; without an
    activation it outputs logits, which an import must refuse.
    """
    import keras

    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    head = keras.layers.Dense(3, activation=activation)
    outputs = head(x)
    head.set_weights([np.eye(3, dtype="float32") * 10.0, np.zeros(3, "float32")])
    keras.Model(inputs, outputs).save(path)
    return path


def sigmoid_model(path: Path, size: int = 32) -> Path:
    """Save a binary model ending in one sigmoid unit: high when the image is bright."""
    import keras

    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    keras.Model(inputs, outputs).save(path)
    return path


def grey_model(path: Path, size: int = 32) -> Path:
    """Save a model that takes one channel, which workers cannot feed."""
    import keras

    inputs = keras.Input((size, size, 1))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    keras.Model(inputs, outputs).save(path)
    return path


def solid_png(colour: str, size: int = 48) -> bytes:
    """Return a PNG filled with one of COLOURS (mostly that channel, a little of the rest)."""
    pixel = [40, 40, 40]
    pixel[COLOURS.index(colour)] = 220
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), tuple(pixel)).save(buffer, format="PNG")
    return buffer.getvalue()
