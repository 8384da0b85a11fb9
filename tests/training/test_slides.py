"""The synthetic slide writer: a tiled JPEG pyramid with its pixel size, tissue where drawn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from training.slides import SlideSpec, tissue_mask, write_slide

SPEC = SlideSpec(2000, 1500, [(800, 700, 600, 500)], [(600, 500, 1000, 900)], mpp=0.5, seed=3)


def test_pyramid_is_tiled_jpeg_with_pixel_size(tmp_path: Path) -> None:
    path = write_slide(tmp_path / "slide.tiff", SPEC)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        assert page.is_tiled and page.compression == tifffile.COMPRESSION.JPEG
        assert (page.imagewidth, page.imagelength) == (2000, 1500)
        assert "MPP = 0.5000" in page.description
        x_resolution = page.tags["XResolution"].value
        assert abs(x_resolution[0] / x_resolution[1] - 2e4) < 1  # pixels per cm at 0.5 um
        assert [sub.imagewidth for sub in page.pages] == [500, 125]


def test_tissue_is_drawn_where_the_spec_says(tmp_path: Path) -> None:
    path = write_slide(tmp_path / "slide.tiff", SPEC)
    pixels = tifffile.imread(path)
    drawn = tissue_mask(SPEC)
    saturation = pixels.max(axis=2).astype(int) - pixels.min(axis=2)
    assert saturation[drawn].mean() > 40 > 10 > saturation[~drawn].mean()
    malignant = pixels[600:800, 700:900].mean()
    benign = pixels[1000:1100, 400:600].mean()
    assert malignant < benign  # darker: larger, denser nuclei
    assert np.array_equal(tissue_mask(SPEC, 4).shape, (375, 500))
