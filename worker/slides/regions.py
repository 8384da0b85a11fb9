"""Read tiles from slides: open handles cached per worker process, bounded in number."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from core.preprocessing import Resample, resize_pixels
from worker.slides.grid import TileGeometry
from worker.slides.reader import Slide, open_slide


class SlideCache:
    """The most recently used open slides of this process, at most `capacity` of them."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self._open: OrderedDict[str, Slide] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, url: str) -> Slide:
        """Return an open slide for `url`, opening it (and closing the oldest) if needed."""
        with self._lock:
            slide = self._open.pop(url, None)
            if slide is None:
                slide = open_slide(url)
            self._open[url] = slide
            while len(self._open) > self.capacity:
                _, oldest = self._open.popitem(last=False)
                oldest.close()
            return slide

    def forget(self, url: str) -> None:
        """Close a slide's handle (after it failed, or when its last block is done)."""
        with self._lock:
            slide = self._open.pop(url, None)
        if slide is not None:
            slide.close()

    def __len__(self) -> int:
        return len(self._open)


def tile_rows(corners: np.ndarray) -> list[np.ndarray]:
    """Return the indices of the tiles of each grid row (same y), in order."""
    if not len(corners):
        return []
    starts = np.flatnonzero(np.diff(corners[:, 1], prepend=corners[0, 1] - 1))
    return np.split(np.arange(len(corners)), starts[1:])


def read_tiles(
    slide: Slide,
    geometry: TileGeometry,
    corners: np.ndarray,
    input_size: tuple[int, int],
    resample: Resample,
) -> np.ndarray:
    """Return the tiles at level-0 `corners` as model input: (n, height, width, 3) uint8.

    The tiles of one grid row are read as one strip, so each of the slide's own (JPEG)
    tiles is decoded once, not once for every model tile that overlaps it.
    """
    height, width = input_size
    tiles = np.empty((len(corners), height, width, 3), dtype=np.uint8)
    downsample = slide.downsamples[geometry.level]
    side = geometry.read_size
    for row in tile_rows(corners):
        xs = corners[row, 0]
        left, top = int(xs.min()), int(corners[row[0], 1])
        offsets = np.rint((xs - left) / downsample).astype(np.int64)
        strip = slide.read_rect(left, top, geometry.level, int(offsets.max()) + side, side)
        for index, offset in zip(row, offsets, strict=True):
            region = np.ascontiguousarray(strip[:, offset : offset + side])
            tiles[index] = resize_pixels(region, input_size, resample)
    return tiles
