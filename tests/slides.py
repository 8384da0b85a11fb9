"""Helpers of the slide tests: a model that sees the synthetic tumour, and test slides."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.model_card import TrainingImages
from training.slides import SlideSpec

#: A slide with two tissue pieces and one malignant box in the larger one (level 0, 0.5 µm).
SPEC = SlideSpec(
    4000, 3000, [(1500, 1500, 1200, 1000), (3300, 1500, 500, 900)], [(900, 900, 1900, 1900)]
)

DARK_GREEN = 90.0  # a pixel this dark in green is nucleus (hematoxylin)
SPLIT = 0.075  # share of nucleus pixels between benign (~0.04) and malignant (~0.12) cells
GAIN = 80.0


def nucleus_model_dir(directory: Path, pixel_size_um: float | None = 0.5) -> Path:
    """Export a fixed-weight model: the share of dark nucleus pixels makes a tile malignant.

    The synthetic slides' malignant cells have larger, denser, darker nuclei, so this is
    the embedded model's signal without training it.
    """
    import keras

    from training.export import build_card, export_model

    inputs = keras.Input((96, 96, 3))
    dark = keras.layers.Conv2D(1, 1, activation="sigmoid")
    pooled = keras.layers.GlobalAveragePooling2D()(dark(inputs))
    head = keras.layers.Dense(2, activation="softmax")
    outputs = head(pooled)
    model = keras.Model(inputs, outputs)
    dark.set_weights(
        [
            np.array([0, -1 / 8, 0], np.float32).reshape(1, 1, 3, 1),
            np.array([DARK_GREEN / 8], np.float32),
        ]
    )
    head.set_weights(
        [np.array([[0.0, GAIN]], np.float32), np.array([0.0, -GAIN * SPLIT], np.float32)]
    )
    card = build_card(
        architecture="nucleus_share",
        class_names=["benign", "malignant"],
        input_size=(96, 96),
        data_hash="0" * 64,
        metrics={},
        positive_class="malignant",
        training_images=TrainingImages(pixel_size_um=pixel_size_um),
    )
    export_model(model, card, directory)
    return directory
