"""Image bytes to model input: the one function that training, workers and evaluation share.

Pillow and numpy only, so the gateway can sniff images without TensorFlow. The output is
RGB uint8 of the model's input size; scaling to floats lives inside the model, so the
parameters that matter here (size, resampling) travel with the model in `model.json`.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: Formats accepted on upload. Everything else is refused even if Pillow could read it.
ACCEPTED_FORMATS = frozenset({"PNG", "JPEG", "TIFF", "BMP", "WEBP", "GIF"})

#: Resampling filters a model card may name; the resize the model's images went through.
Resample = Literal["bilinear", "bicubic", "nearest", "lanczos"]

_RESAMPLING: dict[Resample, Image.Resampling] = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
}


#: What Pillow raises on malformed files. Anything else (MemoryError, a signal handler's
#: exception) is not the image's fault and must not fail the item.
PILLOW_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, TypeError)


class ImageError(ValueError):
    """Raised when bytes are not an image this service can classify; the message says why."""


@dataclass(frozen=True)
class ImageInfo:
    """What sniffing learned about an upload without decoding its pixels."""

    format: str
    width: int
    height: int
    mode: str


def _open(data: bytes, max_pixels: int) -> Image.Image:
    if not data:
        raise ImageError("empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, Image.DecompressionBombWarning) as exc:
        raise ImageError("not a recognised image format") from exc
    except Image.DecompressionBombError as exc:
        raise ImageError("image has too many pixels (decompression bomb)") from exc
    except PILLOW_ERRORS as exc:
        raise ImageError(f"unreadable image header: {exc}") from exc
    if image.format not in ACCEPTED_FORMATS:
        raise ImageError(f"unsupported image format {image.format}")
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(
            f"image has {width * height} pixels, more than the limit of {max_pixels} "
            "(decompression bomb guard)"
        )
    if width == 0 or height == 0:
        raise ImageError("image has no pixels")
    return image


def sniff_image(data: bytes, *, max_pixels: int = 89_478_485) -> ImageInfo:
    """Identify an image from its header, refusing non-images and oversized ones."""
    image = _open(data, max_pixels)
    return ImageInfo(image.format or "", image.width, image.height, image.mode)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparent pixels become white (slide glass)."""
    if image.mode in {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}:
        pixels = np.asarray(image, dtype=np.float64)
        low, high = float(pixels.min()), float(pixels.max())
        scaled = (pixels - low) / (high - low) * 255.0 if high > low else np.zeros_like(pixels)
        image = Image.fromarray(scaled.astype(np.uint8))
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def decode_image(
    data: bytes,
    size: tuple[int, int],
    *,
    resample: Resample = "bilinear",
    max_pixels: int = 89_478_485,
) -> np.ndarray:
    """Decode image bytes into an RGB uint8 array of shape (height, width, 3)."""
    image = _open(data, max_pixels)
    try:
        image = ImageOps.exif_transpose(image) or image
        image = _to_rgb(image)
        height, width = size
        if image.size != (width, height):
            image = image.resize((width, height), _RESAMPLING[resample])
        array = np.asarray(image, dtype=np.uint8)
    except PILLOW_ERRORS as exc:  # truncated or corrupt pixel data surfaces only at decode
        raise ImageError(f"corrupt image data: {exc}") from exc
    return array
