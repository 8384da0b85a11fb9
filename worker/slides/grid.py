"""Plan a slide's tiles: the pyramid level and region size at the model's pixel size, and
the grid positions (level-0 pixels) whose footprint holds enough tissue."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from worker.slides.reader import SlideError

#: A level may be this much coarser than wanted and still be read (JPEG rounding of mpp).
LEVEL_TOLERANCE = 1.01


@dataclass(frozen=True)
class TileGeometry:
    """How one tile is read: its side at level 0, the level read and the side read there."""

    size0: int  # tile side in level-0 pixels
    stride0: int  # step between neighbouring tiles in level-0 pixels
    level: int
    read_size: int  # side of the region read at `level`, resized to the model's input


def choose_geometry(
    slide_mpp: float | None,
    downsamples: list[float],
    model_mpp: float | None,
    input_side: int,
    overlap: int = 0,
) -> TileGeometry:
    """Choose the level and region size that show `input_side` pixels at the model's scale.

    A model with no pixel size is fed level-0 pixels as they are. The level read is the
    coarsest one still at least as fine as the model's scale, so regions are only ever
    shrunk to the input size, never enlarged.
    """
    if model_mpp is None:
        scale = 1.0
    elif slide_mpp is None:
        raise SlideError(
            f"no pixel size: the slide records no µm per pixel and the model needs {model_mpp}"
        )
    else:
        scale = model_mpp / slide_mpp
    size0 = max(1, round(input_side * scale))
    stride0 = max(1, round((input_side - overlap) * scale))
    fits = [i for i, d in enumerate(downsamples) if d <= scale * LEVEL_TOLERANCE]
    level = max(fits, default=0)
    read_size = max(1, round(size0 / downsamples[level]))
    return TileGeometry(size0, stride0, level, read_size)


def integral_image(mask: np.ndarray) -> np.ndarray:
    """Return the summed-area table of a mask, one row and column of zeros first."""
    integral = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.int64)
    integral[1:, 1:] = mask.cumsum(0).cumsum(1)
    return integral


def tissue_fractions(
    integral: np.ndarray, scale: float, xs: np.ndarray, ys: np.ndarray, size0: int
) -> np.ndarray:
    """Return the share of tissue under each tile (x, y, size0), from a mask's integral
    image `scale` times smaller than level 0."""
    height, width = integral.shape[0] - 1, integral.shape[1] - 1

    def cut(value: np.ndarray, limit: int) -> np.ndarray:
        return np.clip(np.rint(value / scale).astype(np.int64), 0, limit)

    x0, x1 = cut(xs, width), cut(xs + size0, width)
    y0, y1 = cut(ys, height), cut(ys + size0, height)
    x1, y1 = np.maximum(x1, x0 + 1).clip(max=width), np.maximum(y1, y0 + 1).clip(max=height)
    inside = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
    area = np.maximum((x1 - x0) * (y1 - y0), 1)
    return np.asarray(inside / area, dtype=np.float32)


def plan_tiles(
    mask: np.ndarray,
    dimensions: tuple[int, int],
    geometry: TileGeometry,
    min_tissue: float,
) -> np.ndarray:
    """Return the (x, y) level-0 corners of whole tiles with at least `min_tissue` tissue.

    One row of the grid is scored at a time, so memory follows the row, not the slide.
    """
    width, height = dimensions
    scale = width / mask.shape[1]
    integral = integral_image(mask)
    xs = np.arange(0, width - geometry.size0 + 1, geometry.stride0, dtype=np.int64)
    rows = []
    for y in range(0, height - geometry.size0 + 1, geometry.stride0):
        ys = np.full_like(xs, y)
        keep = tissue_fractions(integral, scale, xs, ys, geometry.size0) >= min_tissue
        if keep.any():
            rows.append(np.stack([xs[keep], ys[keep]], axis=1))
    if not rows:
        return np.zeros((0, 2), dtype=np.int32)
    return np.concatenate(rows).astype(np.int32)
