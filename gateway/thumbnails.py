"""Small previews of stored images for the web page: bounded in size, work and threads.

Pillow and numpy load with the first preview, not at the gateway's start.
"""

from __future__ import annotations

import io

from core.storage import BlobStore

MIN_SIDE, MAX_SIDE, DEFAULT_SIDE = 16, 256, 128
# Larger sources are refused: decoding one would hold hundreds of MB in the gateway. A
# JPEG is exempt, as it decodes at 1/2 to 1/8 scale (core.preprocessing's draft).
MAX_SOURCE_PIXELS = 5000 * 5000
JPEG_QUALITY = 80


class ThumbnailError(ValueError):
    """Raised when an item's stored file cannot be shown as a preview; the message says why."""


TURNED = {5, 6, 7, 8}  # EXIF orientations that swap width and height
EXIF_ORIENTATION = 0x0112


def turned(data: bytes) -> bool:
    """Return whether the image's EXIF orientation turns it a quarter (read from its header)."""
    from core.preprocessing import HEADER_ERRORS, open_image

    try:
        return open_image(data).getexif().get(EXIF_ORIENTATION, 1) in TURNED
    except HEADER_ERRORS:  # an unreadable header: decoding will say why
        return False


def fit(width: int, height: int, side: int) -> tuple[int, int]:
    """Return the (height, width) that fits a width x height image in a side x side square."""
    scale = min(1.0, side / max(width, height))
    return max(1, round(height * scale)), max(1, round(width * scale))


def render_thumbnail(store: BlobStore, digest: str, side: int, max_pixels: int) -> bytes:
    """Return a JPEG of the blob's image, its longer side at most `side` pixels.

    Raises FileNotFoundError when the blob is gone, ThumbnailError when it is not shown.
    """
    from PIL import Image

    from core.preprocessing import ImageError, decode_image, sniff_image

    data = store.get(digest)
    try:
        info = sniff_image(data, max_pixels=max_pixels)
        if info.width * info.height > MAX_SOURCE_PIXELS and info.format != "JPEG":
            raise ThumbnailError(
                f"image of {info.width}x{info.height} pixels is too large for a preview"
            )
        width, height = (info.height, info.width) if turned(data) else (info.width, info.height)
        pixels = decode_image(data, fit(width, height, side), max_pixels=max_pixels)
    except ImageError as exc:
        raise ThumbnailError(f"not an image that can be shown: {exc}") from None
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()
