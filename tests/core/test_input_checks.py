"""Inputs unlike the training images are flagged: grayscale, and tiles at another scale."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from core.input_checks import describe_training_images, input_warnings, scale_ratio
from core.model_card import ModelCard, TrainingImages
from core.preprocessing import decode_source

TRAINED = TrainingImages(color_mode="rgb", tile_size=(96, 96))


def png(pixels: np.ndarray) -> bytes:
    """Encode pixels as PNG (uint8 RGB or L, uint16 I;16, as Pillow infers the mode)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def colour(size: int = 96, seed: int = 0) -> np.ndarray:
    """Return a random RGB tile."""
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def warnings_for(data: bytes, trained: TrainingImages = TRAINED) -> list[str]:
    """Decode as the worker does and return the flags."""
    return input_warnings(decode_source(data, (96, 96)), trained)


def test_a_colour_tile_of_the_trained_size_is_not_flagged() -> None:
    assert warnings_for(png(colour())) == []


@pytest.mark.parametrize(
    "data",
    [
        png(colour()[..., 0]),  # mode L
        png(np.repeat(colour()[..., :1], 3, axis=2)),  # RGB with equal channels
        png(colour()[..., 0].astype(np.uint16) * 257),  # 16-bit grey (I;16)
    ],
    ids=["L", "rgb-equal-channels", "I;16"],
)
def test_grayscale_inputs_are_flagged(data: bytes) -> None:
    assert warnings_for(data) == ["grayscale input"]


def test_a_tile_at_another_scale_is_flagged_with_its_ratio() -> None:
    assert warnings_for(png(colour(192))) == ["tile 2.0x the trained size"]
    assert warnings_for(png(colour(48))) == ["tile 0.5x the trained size"]
    assert warnings_for(png(colour(104))) == []  # within the tolerance (1.08x)
    grey_and_big = png(colour(192)[..., 0])
    assert warnings_for(grey_and_big) == ["grayscale input", "tile 2.0x the trained size"]


def test_scale_is_by_area_so_a_turned_tile_is_the_same_scale() -> None:
    assert scale_ratio((96, 192), (192, 96)) == 1.0
    assert scale_ratio((192, 192), (96, 96)) == 2.0


def test_a_card_that_does_not_say_what_it_was_trained_on_flags_nothing() -> None:
    old = ModelCard.model_validate(
        {
            "name": "m",
            "version": "1",
            "class_names": ["a", "b"],
            "input_size": [96, 96],
            "preprocessing": {"input_size": [96, 96]},
        }
    )
    assert old.training_images == TrainingImages()
    assert old.git_dirty is False and old.dvc_data_hash == ""
    assert warnings_for(png(colour(300)[..., 0]), old.training_images) == []


def test_a_grayscale_model_is_not_flagged_on_grayscale_input() -> None:
    grey = TrainingImages(color_mode="grayscale")
    assert warnings_for(png(colour()[..., 0]), grey) == []


def test_training_images_are_described_by_colour_and_median_size() -> None:
    described = describe_training_images([True, False, True], [(96, 96), (100, 90), (50, 50)])
    assert described == TrainingImages(color_mode="rgb", tile_size=(96, 90))
    assert describe_training_images([True], [(64, 64)]).color_mode == "grayscale"
    assert describe_training_images([], []) == TrainingImages()
