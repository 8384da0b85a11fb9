"""core.plain_png: the files libspng decodes give the pixels Pillow gives, and every other
PNG still goes through Pillow's conversions."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin

from core import plain_png, preprocessing
from core.plain_png import decode_plain_png, is_plain_rgb
from core.preprocessing import ImageError, decode_image

imagecodecs = pytest.importorskip("imagecodecs")  # the worker's decoder; absent: Pillow only

RNG = np.random.default_rng(3)
NOISE = RNG.integers(0, 256, (40, 56, 3), dtype=np.uint8)


def png(image: Image.Image, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **params)
    return buffer.getvalue()


def with_text(key: str, text: str, *, compressed: bool = False) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text(key, text, zip=compressed)
    return png(Image.fromarray(NOISE), pnginfo=info)


def with_xmp(orientation: int) -> bytes:
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        f'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="{orientation}"/>'
        "</rdf:RDF></x:xmpmeta>"
    )
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    return png(Image.fromarray(NOISE), pnginfo=info)


def with_raw_exif_profile(orientation: int) -> bytes:
    """ImageMagick's way: the EXIF block as hex in a compressed text chunk."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    block = b"Exif\0\0" + exif.tobytes()
    text = f"\nexif\n{len(block):8d}\n{block.hex()}\n"
    return with_text("Raw profile type exif", text, compressed=True)


def turned() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    return png(Image.fromarray(NOISE), exif=exif)


def animated() -> bytes:
    frames = [Image.fromarray(NOISE), Image.fromarray(255 - NOISE)]
    return png(frames[0], save_all=True, append_images=frames[1:], default_image=True)


def chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body)
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def with_chunk_before_end(kind: bytes, body: bytes) -> bytes:
    """The noise with one more chunk after its pixel data, just before IEND."""
    data = png(Image.fromarray(NOISE))
    end = data.rindex(b"IEND") - 4
    return data[:end] + chunk(kind, body) + data[end:]


def adam7() -> bytes:
    """The noise as an interlaced PNG, built by hand: Pillow writes none."""
    height, width, _ = NOISE.shape
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
              (0, 1, 1, 2)]  # fmt: skip
    raw = b""
    for x0, y0, dx, dy in passes:
        rows = NOISE[y0::dy, x0::dx]
        if rows.size:
            raw += b"".join(b"\0" + row.tobytes() for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1)
    return (
        plain_png.PNG_SIGNATURE
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def with_gamma(gamma: int) -> bytes:
    """gAMA in 1/100,000ths: 100,000 would brighten the image if a decoder applied it."""
    info = PngImagePlugin.PngInfo()
    info.add(b"gAMA", gamma.to_bytes(4, "big"))
    return png(Image.fromarray(NOISE), pnginfo=info)


def with_profile() -> bytes:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return png(Image.fromarray(NOISE), icc_profile=profile, dpi=(300, 300))


PLAIN: dict[str, Callable[[], bytes]] = {
    "rgb": lambda: png(Image.fromarray(NOISE)),
    "interlaced": adam7,
    "gamma 1.0": lambda: with_gamma(100_000),
    "gamma 0.7": lambda: with_gamma(70_000),
    "colour profile and resolution": with_profile,
    "a chunk's name inside another": lambda: with_chunk_before_end(b"prVt", b"tEXtiTXteXIf"),
    "cut after its pixels": lambda: png(Image.fromarray(NOISE))[:-12],  # no IEND
}

OTHERS: dict[str, Callable[[], bytes]] = {
    "grey": lambda: png(Image.fromarray(NOISE[..., 0])),
    "rgba": lambda: png(Image.fromarray(np.dstack([NOISE, NOISE[..., :1]]))),
    "palette": lambda: png(Image.fromarray(NOISE).quantize(16)),
    "transparent colour": lambda: png(Image.fromarray(NOISE), transparency=(1, 2, 3)),
    "16-bit rgb": lambda: bytes(imagecodecs.png_encode(NOISE.astype(np.uint16) * 257)),
    "exif orientation": turned,
    "xmp orientation": lambda: with_xmp(6),
    "raw exif profile": lambda: with_raw_exif_profile(6),
    "any text": lambda: with_text("scanner", "lab 3"),
    "text after the pixels": lambda: with_chunk_before_end(b"tEXt", b"scanner\0lab 3"),
    "animation": animated,
}


def by_pillow(data: bytes, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    with monkeypatch.context() as patch:
        patch.setattr(plain_png, "_codecs", lambda: None)
        return decode_image(data, size)


@pytest.mark.parametrize("make", PLAIN.values(), ids=PLAIN.keys())
@pytest.mark.parametrize("size", [(40, 56), (24, 24)], ids=["as stored", "resized"])
def test_plain_rgb_pngs_decode_to_pillows_pixels(
    make: Callable[[], bytes], size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make()
    assert is_plain_rgb(data)
    assert decode_plain_png(data, 40, 56) is not None
    expected = by_pillow(data, size, monkeypatch)
    np.testing.assert_array_equal(decode_image(data, size), expected)
    if size == (40, 56):
        np.testing.assert_array_equal(expected, NOISE)


@pytest.mark.parametrize("make", OTHERS.values(), ids=OTHERS.keys())
def test_other_pngs_keep_pillows_conversions(make: Callable[[], bytes]) -> None:
    data = make()
    assert not is_plain_rgb(data)
    assert decode_plain_png(data, 40, 56) is None
    assert decode_image(data, (40, 56)).shape == (40, 56, 3)


@pytest.mark.parametrize("make", [turned, lambda: with_xmp(6), lambda: with_raw_exif_profile(6)],
                         ids=["exif", "xmp", "raw exif profile"])  # fmt: skip
def test_an_orientation_still_turns_the_image(make: Callable[[], bytes]) -> None:
    np.testing.assert_array_equal(decode_image(make(), (56, 40)), np.rot90(NOISE, -1))


def test_a_transparent_colour_still_becomes_white() -> None:
    pixels = NOISE.copy()
    pixels[0, 0] = (1, 2, 3)
    data = png(Image.fromarray(pixels), transparency=(1, 2, 3))
    assert tuple(decode_image(data, (40, 56))[0, 0]) == (255, 255, 255)


@pytest.mark.parametrize("cut", [100, 400, -20])
def test_corrupt_pixel_data_is_an_image_error(cut: int) -> None:
    data = png(Image.fromarray(NOISE))[:cut]
    with pytest.raises(ImageError, match="corrupt"):
        decode_image(data, (40, 56))


def test_pixels_that_disagree_with_the_header_are_refused() -> None:
    data = png(Image.fromarray(NOISE))
    with pytest.raises(ValueError, match="header said"):
        decode_plain_png(data, 41, 56)


def test_an_image_over_a_megapixel_goes_to_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    big = RNG.integers(0, 256, (1000, 1100, 3), dtype=np.uint8)
    data = png(Image.fromarray(big), compress_level=1)
    assert is_plain_rgb(data)
    called: list[int] = []
    monkeypatch.setattr(preprocessing, "decode_plain_png", lambda *args: called.append(1))
    assert decode_image(data, (24, 24)).shape == (24, 24, 3)
    assert not called
