"""Previews keep the shape the image is shown in, EXIF orientation included."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from core.storage import BlobStore
from gateway.thumbnails import fit, render_thumbnail


def test_fit_shrinks_to_the_longer_side_and_never_enlarges() -> None:
    assert fit(600, 150, 64) == (16, 64)
    assert fit(40, 30, 128) == (30, 40)


def test_a_turned_jpeg_is_previewed_upright(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: stored 200 wide, shown 200 tall
    buffer = io.BytesIO()
    Image.new("RGB", (200, 100), (120, 60, 90)).save(buffer, format="JPEG", exif=exif)
    store = BlobStore(str(tmp_path))
    preview = render_thumbnail(store, store.put(buffer.getvalue()), 64, 10**8)
    assert Image.open(io.BytesIO(preview)).size == (32, 64)
