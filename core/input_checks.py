"""Flags for inputs unlike the images a model was trained on (colour, scale).

The model scores anything it is given, with high confidence even at chance accuracy, so the
worker compares what decoding learned about each image with the card's `training_images`
and records a warning per difference on the result. Unknown training properties are never
checked: a card without them (every card written before they existed) flags nothing.
"""

from __future__ import annotations

import math

import numpy as np

from core.model_card import TrainingImages
from core.preprocessing import Decoded

#: An input whose linear scale (square root of its area over the training tiles' area)
#: is this factor or more above or below the training tiles is flagged.
SCALE_TOLERANCE = 1.25

GRAYSCALE = "grayscale input"


def is_grayscale(pixels: np.ndarray) -> bool:
    """Return whether decoded RGB pixels carry no colour: all three channels equal."""
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return bool(np.array_equal(red, green) and np.array_equal(green, blue))


def scale_ratio(source_size: tuple[int, int], tile_size: tuple[int, int]) -> float:
    """Return an image's linear size relative to the training tiles (area-based, turn-proof)."""
    return math.sqrt((source_size[0] * source_size[1]) / (tile_size[0] * tile_size[1]))


def input_warnings(decoded: Decoded, trained: TrainingImages) -> list[str]:
    """Return one warning per way this input departs from the training images (or none)."""
    warnings = []
    if trained.color_mode == "rgb" and is_grayscale(decoded.pixels):
        warnings.append(GRAYSCALE)
    if trained.tile_size is not None:
        ratio = scale_ratio(decoded.source_size, trained.tile_size)
        if ratio >= SCALE_TOLERANCE or ratio <= 1 / SCALE_TOLERANCE:
            warnings.append(f"tile {ratio:.1f}x the trained size")
    return warnings


def describe_training_images(grayscale: list[bool], sizes: list[tuple[int, int]]) -> TrainingImages:
    """Summarise training images: rgb if any had colour; the median (height, width)."""
    if not sizes:
        return TrainingImages()
    heights, widths = zip(*sizes, strict=True)
    return TrainingImages(
        color_mode="grayscale" if all(grayscale) else "rgb",
        tile_size=(int(np.median(heights)), int(np.median(widths))),
    )
