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


def read_tiles(
    slide: Slide,
    geometry: TileGeometry,
    corners: np.ndarray,
    input_size: tuple[int, int],
    resample: Resample,
) -> np.ndarray:
    """Return the tiles at level-0 `corners` as model input: (n, height, width, 3) uint8."""
    height, width = input_size
    tiles = np.empty((len(corners), height, width, 3), dtype=np.uint8)
    for index, (x, y) in enumerate(corners):
        region = slide.read(int(x), int(y), geometry.level, geometry.read_size)
        tiles[index] = resize_pixels(region, input_size, resample)
    return tiles
