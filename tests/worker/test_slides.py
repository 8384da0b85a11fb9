"""Slide reading and tiling on synthetic pyramidal TIFFs: mask, geometry, tiles, failures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.slides import SlideSpec, write_slide
from training.slides import tissue_mask as drawn_mask
from worker.slides.grid import choose_geometry, plan_tiles
from worker.slides.mask import tissue_mask
from worker.slides.reader import SlideError, open_slide
from worker.slides.regions import SlideCache, read_tiles

SPEC = SlideSpec(
    4000, 3000, [(1500, 1500, 1200, 1000), (3300, 1500, 500, 900)], [(1000, 1000, 1800, 1800)]
)


@pytest.fixture(scope="module")
def slide_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_slide(tmp_path_factory.mktemp("slides") / "slide.tiff", SPEC)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_tissue_mask_matches_the_drawn_tissue(slide_path: Path) -> None:
    slide = open_slide(str(slide_path))
    thumbnail = slide.thumbnail(1000)
    mask = tissue_mask(thumbnail)
    drawn = drawn_mask(SPEC, round(SPEC.width / thumbnail.shape[1]))[
        : mask.shape[0], : mask.shape[1]
    ]
    assert iou(mask, drawn) >= 0.9


def test_mask_drops_specks_and_fills_holes() -> None:
    rgb = np.full((200, 200, 3), 235, np.uint8)
    rgb[50:150, 50:150] = (180, 80, 150)  # tissue
    rgb[90:110, 90:110] = 235  # a lumen inside it
    rgb[5:8, 5:8] = (180, 80, 150)  # a speck of dust
    mask = tissue_mask(rgb, min_object_px=64)
    assert mask[100, 100] and not mask[6, 6] and mask.sum() == 100 * 100


def test_geometry_picks_the_level_and_region_at_the_models_scale() -> None:
    downsamples = [1.0, 4.0, 16.0]
    assert choose_geometry(0.5, downsamples, None, 96) == choose_geometry(0.5, downsamples, 0.5, 96)
    at_1um = choose_geometry(0.5, downsamples, 1.0, 96)
    assert (at_1um.size0, at_1um.level, at_1um.read_size) == (192, 0, 192)
    at_2um = choose_geometry(0.5, downsamples, 2.0, 96, overlap=16)
    assert (at_2um.size0, at_2um.stride0, at_2um.level, at_2um.read_size) == (384, 320, 1, 96)


def test_tiles_lie_on_tissue_and_read_at_input_size(slide_path: Path) -> None:
    slide = SlideCache(2).get(str(slide_path))
    geometry = choose_geometry(slide.mpp, slide.downsamples, 1.0, 96)
    mask = tissue_mask(slide.thumbnail(1024))
    corners = plan_tiles(mask, slide.dimensions, geometry, min_tissue=0.5)
    centres = corners + geometry.size0 // 2
    drawn = drawn_mask(SPEC)
    assert drawn[centres[:, 1], centres[:, 0]].mean() > 0.97
    assert 120 < len(corners) < 150  # 5.2 Mpx of ellipses over 192 x 192 tiles
    tiles = read_tiles(slide, geometry, corners[:5], (96, 96), "bilinear")
    assert tiles.shape == (5, 96, 96, 3) and tiles.dtype == np.uint8


def test_cache_keeps_a_bounded_number_of_handles(slide_path: Path, tmp_path: Path) -> None:
    cache = SlideCache(1)
    other = tmp_path / "copy.tiff"
    other.write_bytes(slide_path.read_bytes())
    assert cache.get(str(slide_path)) is cache.get(str(slide_path))
    cache.get(str(other))
    assert len(cache) == 1


def test_unreadable_truncated_and_unscaled_slides_fail_with_a_reason(
    slide_path: Path, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.svs"
    junk.write_bytes(b"not a slide" * 100)
    with pytest.raises(SlideError, match="unreadable"):
        open_slide(str(junk))
    truncated = tmp_path / "truncated.tiff"
    truncated.write_bytes(slide_path.read_bytes()[: slide_path.stat().st_size // 2])
    with pytest.raises(SlideError, match="truncated"):
        open_slide(str(truncated)).thumbnail(512)
    with pytest.raises(SlideError, match="no pixel size"):
        choose_geometry(None, [1.0], 0.5, 96)
    with pytest.raises(SlideError, match="not found"):
        open_slide(str(tmp_path / "absent.tiff"))
    with pytest.raises(SlideError, match="cannot read abfs:// slides: Install adlfs"):
        open_slide("abfs://lab/slide.tiff")  # no filesystem for the scheme in this worker


def test_a_row_read_as_one_strip_gives_the_tiles_read_one_by_one(slide_path: Path) -> None:
    slide = open_slide(str(slide_path))
    geometry = choose_geometry(slide.mpp, slide.downsamples, 0.5, 96)
    corners = plan_tiles(tissue_mask(slide.thumbnail(1000)), slide.dimensions, geometry, 0.5)
    sample = corners[40:120]
    assert len(np.unique(sample[:, 1])) > 1  # more than one grid row
    tiles = read_tiles(slide, geometry, sample, (96, 96), "bilinear")
    one_by_one = np.stack([slide.read(int(x), int(y), 0, 96) for x, y in sample])
    assert np.array_equal(tiles, one_by_one)
