"""Plain 8-bit RGB PNGs decoded by libspng (through imagecodecs): the same pixels as
Pillow's decoder in about 60% of its time. Measured here on the benchmark's tiles: 96 px
from 391 to 218 us, 224 px from 1,669 to 1,017 us. Before, decoding a 96 px tile cost as
much CPU as the small CNN's model spent on it.

Only files whose stored pixels are exactly what the model gets take this path: colour type
2 (RGB) at bit depth 8, no `tRNS` chunk (a transparent colour becomes white, see
core.preprocessing), no `eXIf` chunk and no text chunk (`tEXt`, `zTXt`, `iTXt`: XMP and
ImageMagick's raw EXIF profile carry an orientation there, and Pillow turns the image by
it) and no `acTL` chunk (an animation's first frame is not always the stored image).
Palette, grey, alpha and 16-bit files keep Pillow's conversions. Gamma, colour profiles and
resolution change no pixel in either decoder (libspng is called without its gamma flag).
The chunks are found by walking their headers from the signature to `IEND`: a few steps a
tile, where searching the whole file for each name held the GIL 85 us on a 19 KB tile. A
file whose chunks do not walk to `IEND` (cut short, or a length past its end) goes to
libspng too. Cut inside its pixel data, it fails as corrupt (Pillow would read pixels from
it); cut after them, both decoders give the same pixels. A length past the end after the
pixel data hides what follows from both decoders alike: libspng gives the pixels where
Pillow failed the file. libspng is stricter than Pillow with malformed files: an unknown
critical chunk, a repeated IHDR or a compression method other than 0 fail the item as
corrupt where Pillow read pixels.

core.preprocessing sends it images of up to 1 MP: the pixels of a bigger one would be held
twice while they are resized (libspng's array, then Pillow's copy). Where imagecodecs is
not installed (the gateway's image, which decodes only thumbnails), Pillow decodes every
file.
"""

from __future__ import annotations

import functools
import struct
from types import ModuleType

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: Chunks whose presence sends a file to Pillow (see the module's docstring).
_PILLOW_CHUNKS = frozenset((b"tRNS", b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"acTL"))

_CHUNK_HEADER = struct.Struct(">I4s")  # a chunk: length, type, data, then a 4-byte CRC

_RGB = 2


def is_plain_rgb(data: bytes) -> bool:
    """Whether a PNG's stored pixels are 8-bit RGB with no transparency, orientation or
    animation: decoded as they are, they are the model's input."""
    if len(data) < 33 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return False
    bit_depth, colour_type = data[24], data[25]
    if bit_depth != 8 or colour_type != _RGB:
        return False
    position, end = len(PNG_SIGNATURE), len(data)
    while position + _CHUNK_HEADER.size <= end:
        length, kind = _CHUNK_HEADER.unpack_from(data, position)
        if kind in _PILLOW_CHUNKS:
            return False
        if kind == b"IEND":
            return True
        position += _CHUNK_HEADER.size + length + 4
    return True  # cut short: libspng judges it (see the module's docstring)


@functools.cache
def _codecs() -> ModuleType | None:
    try:
        import imagecodecs
    except ImportError:
        return None
    return imagecodecs if imagecodecs.SPNG.available else None


def decode_plain_png(data: bytes, height: int, width: int) -> np.ndarray | None:
    """Return the RGB uint8 pixels (height, width, 3) of a plain 8-bit RGB PNG whose header
    said `height` x `width`, or None for any other file: Pillow decodes those.

    Raises ValueError when the pixel data is corrupt (core.preprocessing reports it).
    """
    codecs = _codecs()
    if codecs is None or not is_plain_rgb(data):
        return None
    try:
        pixels = codecs.spng_decode(data)
    except codecs.SpngError as exc:
        raise ValueError(str(exc)) from exc
    if pixels.dtype != np.uint8 or pixels.shape != (height, width, 3):
        raise ValueError(f"decoded {pixels.shape} {pixels.dtype}, header said {width}x{height}")
    return np.asarray(pixels)
