"""Write synthetic whole-slide images: tiled, JPEG-compressed, pyramidal TIFFs.

A slide is white background with tissue ellipses on it; inside the tissue, H&E-like cells
of `cell` pixels are drawn by training.tissue (benign look, or malignant inside the boxes
the caller names), one stain per slide. Level 0 is written strip by strip and the
sub-resolution levels (each 4x smaller, as SubIFDs) are kept in memory at 1/16 the size,
so memory stays bounded for slides of tens of thousands of tiles. The description is
Aperio-like (`AppMag`, `MPP`) and the resolution tags carry the pixel size in centimetres.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile

from training.tissue import render_tiles, sample_stain

Box = tuple[int, int, int, int]  # (x0, y0, x1, y1) in level-0 pixels, end exclusive
Ellipse = tuple[int, int, int, int]  # (centre x, centre y, radius x, radius y)

TIFF_TILE = 256
DOWNSAMPLE = 4
POOL = 96  # distinct cells rendered per class; cells are drawn from the pool, turned


@dataclass(frozen=True)
class SlideSpec:
    """What to draw: size, pixel size, tissue ellipses and malignant boxes (level 0)."""

    width: int
    height: int
    tissue: list[Ellipse]
    malignant: list[Box] = field(default_factory=list)
    mpp: float = 0.5
    cell: int = 96
    levels: int = 3
    seed: int = 0
    quality: int = 90


def tissue_mask(spec: SlideSpec, downsample: int = 1) -> np.ndarray:
    """Return the drawn tissue as a boolean mask, one value per `downsample` pixels."""
    rows = (np.arange(-(-spec.height // downsample)) + 0.5) * downsample
    cols = (np.arange(-(-spec.width // downsample)) + 0.5) * downsample
    mask = np.zeros((len(rows), len(cols)), dtype=bool)
    for cx, cy, rx, ry in spec.tissue:
        mask |= ((cols[None, :] - cx) / rx) ** 2 + ((rows[:, None] - cy) / ry) ** 2 <= 1
    return mask


def in_boxes(boxes: list[Box], xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Return whether each point (x, y) falls in any box."""
    inside = np.zeros(np.broadcast(xs, ys).shape, dtype=bool)
    for x0, y0, x1, y1 in boxes:
        inside |= (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)
    return inside


class CellPainter:
    """Cells of one slide: pools of benign and malignant renders under one stain."""

    def __init__(self, spec: SlideSpec) -> None:
        self.spec = spec
        self.rng = np.random.default_rng([spec.seed, 16])
        stain = sample_stain(self.rng)
        none = np.zeros(POOL, dtype=bool)
        benign = self.rng.uniform(0.0, 0.3, POOL)
        malignant = self.rng.uniform(0.7, 1.0, POOL)
        lymph = self.rng.random(POOL) < 0.3
        size = spec.cell
        self.pools = (
            render_tiles(self.rng, benign, stain, lymphocytes=lymph, size=size),
            render_tiles(self.rng, malignant, stain, lymphocytes=none, size=size),
        )

    def background(self, height: int, width: int) -> np.ndarray:
        """Return glass: near-white, unsaturated, with sensor noise."""
        noise = self.rng.integers(-4, 5, (height, width, 1), dtype=np.int16)
        return np.clip(236 + noise, 0, 255).astype(np.uint8).repeat(3, axis=2)

    def strip(self, top: int) -> np.ndarray:
        """Return level-0 rows [top, top + cell) across the whole width."""
        spec, size = self.spec, self.spec.cell
        n_cells = -(-spec.width // size)
        centres_x = np.arange(n_cells) * size + size // 2
        malignant = in_boxes(spec.malignant, centres_x, np.full(n_cells, top + size // 2))
        picks = self.rng.integers(0, POOL, n_cells)
        turns = self.rng.integers(0, 4, n_cells)
        cells = [
            np.rot90(self.pools[int(m)][p], k)
            for m, p, k in zip(malignant, picks, turns, strict=True)
        ]
        tissue = np.concatenate(cells, axis=1)[:, : spec.width]
        height = min(size, spec.height - top)
        glass = self.background(height, spec.width)
        sub = SlideSpec(
            spec.width, height, [(cx, cy - top, rx, ry) for cx, cy, rx, ry in spec.tissue]
        )
        inside = tissue_mask(sub)[..., None]
        return np.where(inside, tissue[:height], glass)


def level0_strips(spec: SlideSpec) -> Iterator[np.ndarray]:
    """Yield level 0 in strips of TIFF_TILE rows (the last one may be shorter)."""
    painter = CellPainter(spec)
    buffer: list[np.ndarray] = []
    rows = 0
    for top in range(0, spec.height, spec.cell):
        strip = painter.strip(top)
        buffer.append(strip)
        rows += len(strip)
        while rows >= TIFF_TILE or (top + spec.cell >= spec.height and rows):
            joined = np.concatenate(buffer)
            yield joined[:TIFF_TILE]
            rest = joined[TIFF_TILE:]
            buffer, rows = ([rest], len(rest)) if len(rest) else ([], 0)


def tiles_of(
    strips: Iterator[np.ndarray], width: int, sink: list[np.ndarray]
) -> Iterator[np.ndarray]:
    """Yield TIFF tiles row by row from strips, keeping a 1/DOWNSAMPLE copy in `sink`."""
    for strip in strips:
        sink.append(downsample(strip))
        padded = np.full((TIFF_TILE, -(-width // TIFF_TILE) * TIFF_TILE, 3), 236, np.uint8)
        padded[: len(strip), :width] = strip
        for left in range(0, width, TIFF_TILE):
            yield padded[:, left : left + TIFF_TILE]


def downsample(pixels: np.ndarray, factor: int = DOWNSAMPLE) -> np.ndarray:
    """Average blocks of factor x factor pixels (edges cropped to whole blocks, at least 1)."""
    height = max(1, len(pixels) // factor) * factor
    width = max(1, pixels.shape[1] // factor) * factor
    cropped = pixels[:height, :width].astype(np.float32)
    if cropped.shape[0] < factor or cropped.shape[1] < factor:
        return cropped[:1, :1].astype(np.uint8)
    blocks = cropped.reshape(height // factor, factor, width // factor, factor, 3)
    return blocks.mean(axis=(1, 3)).round().astype(np.uint8)


def description(spec: SlideSpec) -> str:
    """Return an Aperio-like ImageDescription with the magnification and the pixel size."""
    magnification = round(10.0 / spec.mpp)
    return (
        f"Aperio Image Library inferq synthetic\r\n{spec.width}x{spec.height} "
        f"({TIFF_TILE}x{TIFF_TILE}) JPEG/RGB Q={spec.quality}|AppMag = {magnification}"
        f"|MPP = {spec.mpp:.4f}"
    )


def write_slide(path: Path, spec: SlideSpec) -> Path:
    """Write the slide as a tiled, JPEG-compressed pyramidal TIFF and return its path."""
    per_cm = 1e4 / spec.mpp
    options = {
        "photometric": "rgb",
        "compression": "jpeg",
        "compressionargs": {"level": spec.quality},
        "tile": (TIFF_TILE, TIFF_TILE),
        "resolutionunit": "CENTIMETER",
    }
    reduced: list[np.ndarray] = []
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        tif.write(
            tiles_of(level0_strips(spec), spec.width, reduced),
            shape=(spec.height, spec.width, 3),
            dtype=np.uint8,
            subifds=spec.levels - 1,
            resolution=(per_cm, per_cm),
            description=description(spec),
            **options,  # type: ignore[arg-type]
        )
        level = np.concatenate(reduced)
        for index in range(1, spec.levels):
            scale = DOWNSAMPLE**index
            tif.write(level, subfiletype=1, resolution=(per_cm / scale, per_cm / scale), **options)  # type: ignore[arg-type]
            level = downsample(level)
    return path
