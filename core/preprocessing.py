"""Image bytes to model input: the one function that training, workers and evaluation share.

Pillow and numpy only, so the gateway can sniff images without TensorFlow (plain 8-bit RGB
PNGs are decoded by libspng where imagecodecs is installed: core.plain_png). The output is
RGB uint8 of the model's input size; scaling to floats lives inside the model, so the
parameters that matter here (size, resampling) travel with the model in `model.json`.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import cast

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.plain_png import decode_plain_png
from core.resampling import Resample

#: The Pillow plugins that may read an upload's header (a tuple: Image.open takes it).
OPENED_FORMATS = ("PNG", "JPEG", "TIFF", "BMP", "WEBP", "GIF")
#: Formats accepted on upload: those the plugins above name. Everything else is refused even
#: if Pillow could read it. MPO is a JPEG with more pictures after the first (phones' HDR and
#: depth pictures): the JPEG plugin names it so, and its first picture is read.
ACCEPTED_FORMATS = (*OPENED_FORMATS, "MPO")

_RESAMPLING: dict[Resample, Image.Resampling] = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
}


#: Modes whose pixels need no conversion before resampling (L and RGB resample alike).
_RESIZED_AS_IS = frozenset({"L", "RGB"})

#: 16- and 32-bit modes (grey levels of microscopy cameras, float TIFFs): stretched to 8 bits.
_WIDE_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})

#: The wide modes Pillow can resample and measure; the others are copied to "I" first.
_NATIVE_WIDE_MODES = frozenset({"I;16", "I", "F"})

#: Bytes a pixel takes in Pillow's memory for modes not stored in 4 bytes.
_STORED_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}

#: Pixels converted at once: bands keep conversion temporaries to a few MB at any size.
_BAND_PIXELS = 1 << 20

_ORIENTATION = 0x0112

#: JPEGs with more pixels than this decode at a reduced scale (DCT scaling), at least
#: DRAFT_MARGIN times the model's input on each side; smaller ones decode in full as before.
DRAFT_MIN_PIXELS = 4096 * 4096
DRAFT_MARGIN = 4

#: Called with the bytes a decoding will hold; held while it holds them.
Reserve = Callable[[int], AbstractContextManager[object]]


def hold_nothing(nbytes: int) -> AbstractContextManager[object]:
    """Reserve nothing: for callers that decode one image at a time."""
    return nullcontext()


#: What Pillow raises on malformed files. Anything else (MemoryError, a signal handler's
#: exception) is not the image's fault and must not fail the item.
PILLOW_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, TypeError)
#: What a plugin may raise reading a header it does not expect, as well: only around
#: open_image, so that such an error in this module's own code is not blamed on the image.
HEADER_ERRORS = (*PILLOW_ERRORS, KeyError, AttributeError, NotImplementedError, ArithmeticError)


def open_image(data: bytes) -> Image.Image:
    """Open an upload's bytes (its header only, pixels on demand): the one way they are
    opened, so that only the accepted formats' plugins ever parse them."""
    return Image.open(io.BytesIO(data), formats=OPENED_FORMATS)


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
            image = open_image(data)
    except UnidentifiedImageError as exc:
        raise ImageError("not a recognised image format") from exc
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageError("image has too many pixels (decompression bomb)") from exc
    except HEADER_ERRORS as exc:
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


@contextmanager
def _pixel_errors() -> Iterator[None]:
    """Report what Pillow raises on truncated or corrupt pixel data as an ImageError."""
    try:
        yield
    except ImageError:
        raise
    except PILLOW_ERRORS as exc:  # corrupt pixel data surfaces only when decoding
        raise ImageError(f"corrupt image data: {exc}") from exc


def _may_turn(image: Image.Image) -> bool:
    """Whether the EXIF orientation may turn the image, as far as is known before decoding."""
    if image.format == "PNG":
        return True  # its orientation may follow the pixels, where only decoding finds it
    return image.getexif().get(_ORIENTATION, 1) != 1


def _decode_cost(image: Image.Image, data: bytes) -> int:
    """Return the most bytes decoding this image holds at once: its bytes, pixels, copies."""
    stored = _STORED_BYTES.get(image.mode, 4)
    as_is = image.mode in _RESIZED_AS_IS and "transparency" not in image.info
    # Otherwise an "I" copy, or the RGB image the bands are converted into.
    working = 0 if as_is or image.mode in _NATIVE_WIDE_MODES else 4
    if _may_turn(image):
        working += stored  # the turned copy
    band = _BAND_PIXELS * 20  # a band as RGBA, background, composite and RGB at once
    return len(data) + image.width * image.height * (stored + working) + band


def _draft(image: Image.Image, size: tuple[int, int]) -> None:
    """Let a very large JPEG decode at 1/2, 1/4 or 1/8 scale, still well above `size`."""
    if image.format == "JPEG" and image.width * image.height > DRAFT_MIN_PIXELS:
        side = max(size) * DRAFT_MARGIN  # square: the EXIF orientation may turn the image
        image.draft(image.mode, (side, side))


def _band_to_rgb(image: Image.Image) -> Image.Image:
    """Convert an 8-bit image to RGB; transparent pixels become white (slide glass)."""
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert an 8-bit image to RGB band by band, so no full-size temporaries pile up."""
    output = Image.new("RGB", image.size)
    rows = max(1, _BAND_PIXELS // image.width)
    for top in range(0, image.height, rows):
        band = image.crop((0, top, image.width, min(top + rows, image.height)))
        output.paste(_band_to_rgb(band), (0, top))
    return output


def _wide_to_gray(image: Image.Image, size: tuple[int, int], resample: int) -> np.ndarray:
    """Resample a 16- or 32-bit image, then stretch its full range onto 0..255 (uint8)."""
    if image.mode not in _NATIVE_WIDE_MODES:
        image = image.convert("I")  # Pillow resamples I;16B wrongly and has no extrema for it
    low, high = cast(tuple[float, float], image.getextrema())
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ImageError("image has infinite pixel values")
    if image.size != size:
        image = image.resize(size, resample)
    pixels = np.asarray(image, dtype=np.float64)  # model-sized: small
    scaled = (pixels - low) / (high - low) * 255.0 if high > low else np.zeros_like(pixels)
    return np.clip(np.nan_to_num(scaled), 0, 255).astype(np.uint8)


def _to_array(image: Image.Image, size: tuple[int, int], resample: int) -> np.ndarray:
    """Turn a decoded image into RGB uint8 pixels of `size` (width, height)."""
    ImageOps.exif_transpose(image, in_place=True)
    if image.mode in _WIDE_MODES:
        gray = _wide_to_gray(image, size, resample)
        return np.repeat(gray[..., np.newaxis], 3, axis=2)
    if image.mode not in _RESIZED_AS_IS or "transparency" in image.info:
        image = _to_rgb(image)
    if image.size != size:
        image = image.resize(size, resample)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


@dataclass(frozen=True)
class Decoded:
    """Model-ready pixels and the size of the image they came from."""

    pixels: np.ndarray  # RGB uint8 (height, width, 3) of the model's input size
    source_size: tuple[int, int]  # (height, width) as stored, before any resizing


def decode_source(
    data: bytes,
    size: tuple[int, int],
    *,
    resample: Resample = "bilinear",
    max_pixels: int = 89_478_485,
    reserve: Reserve = hold_nothing,
) -> Decoded:
    """Decode image bytes as decode_image does, keeping the source image's size."""
    image = _open(data, max_pixels)
    source_size = (image.height, image.width)  # read before a JPEG draft shrinks it
    height, width = size
    with _pixel_errors():
        _draft(image, (width, height))
        cost = _decode_cost(image, data)
    with reserve(cost), _pixel_errors():
        # Up to a band's pixels: a bigger image would be held twice while it is resized.
        small = image.width * image.height <= _BAND_PIXELS
        pixels = decode_plain_png(data, image.height, image.width) if small else None
        if pixels is not None:  # stored as the model takes it: no conversion, no turn
            return Decoded(resize_pixels(pixels, size, resample), source_size)
        return Decoded(_to_array(image, (width, height), _RESAMPLING[resample]), source_size)


def decode_image(
    data: bytes,
    size: tuple[int, int],
    *,
    resample: Resample = "bilinear",
    max_pixels: int = 89_478_485,
    reserve: Reserve = hold_nothing,
) -> np.ndarray:
    """Decode image bytes into an RGB uint8 array of shape (height, width, 3).

    `reserve` is entered with the most bytes the decoding will hold, before any pixel is
    decoded, so a caller can bound what several decoding threads hold together.
    """
    decoded = decode_source(data, size, resample=resample, max_pixels=max_pixels, reserve=reserve)
    return decoded.pixels


def resize_pixels(pixels: np.ndarray, size: tuple[int, int], resample: Resample) -> np.ndarray:
    """Resize RGB uint8 pixels to `size` (height, width) with the model's filter."""
    height, width = size
    if pixels.shape[:2] == (height, width):
        return pixels
    image = Image.fromarray(pixels, mode="RGB").resize((width, height), _RESAMPLING[resample])
    return np.asarray(image, dtype=np.uint8)
