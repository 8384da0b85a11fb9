"""A slide's call by the per-patient rule, and its outputs' shapes (heatmap, GeoJSON, CSV)."""

from __future__ import annotations

import csv
import io

import numpy as np
from PIL import Image

from core.model_card import ModelCard
from core.slide_call import call_slide
from core.slide_outputs import colorize, geojson_features, heatmap_png, tiles_csv_rows

CARD = ModelCard.model_validate(
    {
        "name": "m",
        "version": "1",
        "class_names": ["benign", "malignant"],
        "input_size": [96, 96],
        "preprocessing": {"input_size": [96, 96]},
        "positive_class": "malignant",
    }
)


def scores(positive: list[float]) -> np.ndarray:
    column = np.array(positive, dtype=np.float32)[:, None]
    return np.hstack([1 - column, column])


def test_a_focus_of_strong_tiles_calls_the_slide_positive() -> None:
    focal = call_slide(scores([0.95, 0.97] + [0.05] * 500), CARD, tile_area_um2=48.0**2)
    assert focal.label == "malignant" and focal.positive_tiles == 2
    assert (
        focal.positive_area_mm2 is not None and abs(focal.positive_area_mm2 - 2 * 0.002304) < 1e-9
    )
    assert call_slide(scores([0.6] + [0.05] * 500), CARD, None).label == "benign"
    assert call_slide(scores([0.6] + [0.05] * 500), CARD, None).positive_area_mm2 is None


def test_outputs_use_level0_pixels_and_the_class_probabilities() -> None:
    corners = np.array([[0, 0], [96, 0], [0, 96]], dtype=np.int32)
    probabilities = scores([0.1, 0.9, 0.5])
    features = list(
        geojson_features(corners, probabilities, ["benign", "malignant", "malignant"], 96,
                         ["benign", "malignant"], "malignant")
    )  # fmt: skip
    assert [f["properties"]["objectType"] for f in features] == ["tile"] * 3 + ["annotation"]
    assert features[1]["geometry"]["coordinates"][0][2] == [192, 96]
    assert features[1]["properties"]["classification"]["color"] == [215, 25, 28]
    assert features[1]["properties"]["measurements"] == {"prob_benign": 0.1, "prob_malignant": 0.9}
    rows = list(
        csv.reader(
            io.StringIO("".join(tiles_csv_rows(corners, probabilities, 96, CARD.class_names)))
        )
    )
    assert rows[0] == ["minx", "miny", "width", "height", "prob_benign", "prob_malignant"]
    assert rows[2] == ["96", "0", "96", "96", "0.1000", "0.9000"]


def test_heatmap_is_red_where_tiles_are_positive() -> None:
    assert colorize(np.array([0.0, 1.0])).tolist() == [[49, 54, 149], [165, 0, 38]]
    thumbnail = np.full((50, 100, 3), 230, np.uint8)
    corners = np.array([[0, 0], [500, 0]], dtype=np.int32)  # level 0 is 10x the thumbnail
    png = heatmap_png(thumbnail, 1000, corners, 200, np.array([0.0, 1.0]))
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    assert pixels[5, 5, 2] > pixels[5, 5, 0]  # blue over the benign tile
    assert pixels[5, 55, 0] > pixels[5, 55, 2]  # red over the malignant one
    assert (pixels[40, 95] == 230).all()  # untouched where no tile is
