"""What a classified slide gives back: a heatmap PNG, QuPath GeoJSON and a tile CSV.

Coordinates are level-0 pixels with the origin at the top-left corner of the full
resolution image, as QuPath uses them. The GeoJSON follows QuPath's export: a
FeatureCollection of Polygon features whose properties carry `objectType` ("tile" for
each tile, "annotation" for the slide's tissue outline box), `classification` as
{name, color: [r, g, b]} and `measurements` as {name: value} (QuPath 0.4 and later).
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
from PIL import Image

from core.csv_cells import csv_writer

#: Blue (0) through pale yellow (0.5) to red (1): colour-blind safe (ColorBrewer RdYlBu).
_STOPS = np.array([[49, 54, 149], [255, 255, 191], [165, 0, 38]], dtype=np.float32)
#: Class colours for QuPath, in class order; a positive class is always red.
_PALETTE = [(44, 123, 182), (215, 25, 28), (253, 174, 97), (171, 217, 233), (26, 150, 65)]
POSITIVE_COLOR = (215, 25, 28)


def colorize(values: np.ndarray) -> np.ndarray:
    """Map probabilities in [0, 1] to RGB uint8 through the blue-yellow-red scale."""
    scaled = np.clip(values, 0.0, 1.0) * 2.0
    low = np.minimum(scaled.astype(np.int64), 1)
    frac = (scaled - low)[..., None]
    return np.rint(_STOPS[low] * (1 - frac) + _STOPS[low + 1] * frac).astype(np.uint8)


def heatmap_png(
    thumbnail: np.ndarray,
    width0: int,
    corners: np.ndarray,
    tile_size0: int,
    positive: np.ndarray,
    alpha: float = 0.55,
) -> bytes:
    """Return a PNG of the thumbnail with each tile's positive probability laid over it."""
    height, width = thumbnail.shape[:2]
    scale = width0 / width
    total = np.zeros((height, width), np.float32)
    count = np.zeros((height, width), np.float32)
    side = max(1, round(tile_size0 / scale))
    for (x, y), value in zip(corners, positive, strict=True):
        left, top = int(x / scale), int(y / scale)
        total[top : top + side, left : left + side] += value
        count[top : top + side, left : left + side] += 1
    covered = count > 0
    mean = np.divide(total, count, out=np.zeros_like(total), where=covered)
    blend = thumbnail.astype(np.float32)
    blend[covered] = (1 - alpha) * blend[covered] + alpha * colorize(mean[covered])
    buffer = io.BytesIO()
    Image.fromarray(np.rint(blend).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def class_color(name: str, class_names: list[str], positive_class: str | None) -> list[int]:
    """Return a class's colour as QuPath's [r, g, b]."""
    if name == positive_class:
        return list(POSITIVE_COLOR)
    others = [c for c in class_names if c != positive_class]
    colors = [c for c in _PALETTE if c != POSITIVE_COLOR]
    return list(colors[others.index(name) % len(colors)])


def square(x: int, y: int, side: int) -> list[list[list[int]]]:
    """Return a closed square ring (clockwise in image coordinates) as GeoJSON coordinates."""
    return [[[x, y], [x + side, y], [x + side, y + side], [x, y + side], [x, y]]]


def geojson_features(
    corners: np.ndarray,
    probabilities: np.ndarray,
    labels: list[str],
    tile_size0: int,
    class_names: list[str],
    positive_class: str | None,
) -> Iterator[dict[str, Any]]:
    """Yield one QuPath tile feature per tile, then a slide annotation around them all."""
    for (x, y), row, label in zip(corners.tolist(), probabilities.tolist(), labels, strict=True):
        yield {
            "type": "Feature",
            "id": str(uuid.uuid4()),
            "geometry": {"type": "Polygon", "coordinates": square(x, y, tile_size0)},
            "properties": {
                "objectType": "tile",
                "classification": {
                    "name": label,
                    "color": class_color(label, class_names, positive_class),
                },
                "measurements": {
                    f"prob_{name}": round(p, 4) for name, p in zip(class_names, row, strict=True)
                },
            },
        }
    if len(corners):
        x0, y0 = corners.min(axis=0).tolist()
        x1, y1 = (corners.max(axis=0) + tile_size0).tolist()
        yield {
            "type": "Feature",
            "id": str(uuid.uuid4()),
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]],
            },
            "properties": {"objectType": "annotation", "name": "classified tiles"},
        }


def tiles_csv_rows(
    corners: np.ndarray, probabilities: np.ndarray, tile_size0: int, class_names: list[str]
) -> Iterator[str]:
    """Yield the tile CSV as text chunks: minx,miny,width,height,prob_<class>..."""
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow(["minx", "miny", "width", "height", *(f"prob_{c}" for c in class_names)])
    for start in range(0, len(corners), 1000):
        chunk = zip(
            corners[start : start + 1000].tolist(),
            probabilities[start : start + 1000].tolist(),
            strict=True,
        )
        for (x, y), row in chunk:
            writer.writerow([x, y, tile_size0, tile_size0, *(f"{p:.4f}" for p in row)])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()
