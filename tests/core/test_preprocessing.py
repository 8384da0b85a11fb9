"""core.preprocessing: every image mode becomes RGB uint8 of the model's size."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from core.preprocessing import ImageError, decode_image, sniff_image

SIZE = (32, 48)  # (height, width)


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("mode", "colour", "fmt"),
    [
        ("RGB", (10, 20, 30), "PNG"),
        ("RGB", (200, 100, 50), "JPEG"),
        ("L", 128, "PNG"),
        ("RGBA", (10, 20, 30, 255), "PNG"),
        ("CMYK", (0, 255, 255, 0), "JPEG"),
        ("P", 3, "GIF"),
        ("RGB", (5, 6, 7), "TIFF"),
        ("RGB", (5, 6, 7), "BMP"),
        ("RGB", (5, 6, 7), "WEBP"),
    ],
)
def test_modes_become_rgb_uint8_of_requested_size(mode: str, colour: object, fmt: str) -> None:
    data = encode(Image.new(mode, (64, 40), colour), fmt)  # type: ignore[arg-type]
    array = decode_image(data, SIZE)
    assert array.shape == (32, 48, 3)
    assert array.dtype == np.uint8


def test_cmyk_red_stays_red() -> None:
    data = encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG", quality=100)
    r, g, b = decode_image(data, (8, 8))[4, 4].tolist()
    assert r > 200 and g < 60 and b < 60


def test_transparent_pixels_become_white() -> None:
    data = encode(Image.new("RGBA", (8, 8), (0, 0, 0, 0)))
    assert decode_image(data, (8, 8)).min() == 255


def test_sixteen_bit_grayscale_is_rescaled() -> None:
    pixels = np.linspace(0, 65535, 64, dtype=np.uint16).reshape(8, 8)
    image = Image.fromarray(pixels)
    assert image.mode.startswith("I;16")
    data = encode(image)
    array = decode_image(data, (8, 8))
    assert array.min() == 0 and array.max() == 255
    assert (array[..., 0] == array[..., 1]).all()


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (40, 20), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 20, 20))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    data = encode(image, "JPEG", exif=exif.tobytes(), quality=100)
    array = decode_image(data, (40, 20))  # displayed image is 20 wide, 40 high
    assert array[5, 10].mean() > 200  # white ends up on top
    assert array[35, 10].mean() < 50


def test_non_image_is_refused() -> None:
    with pytest.raises(ImageError, match="not a recognised image"):
        sniff_image(b"hello, this is text")


def test_empty_file_is_refused() -> None:
    with pytest.raises(ImageError, match="empty"):
        decode_image(b"", SIZE)


def test_decompression_bomb_is_refused_before_decoding() -> None:
    data = encode(Image.new("L", (4000, 4000), 0))
    with pytest.raises(ImageError, match="pixels"):
        sniff_image(data, max_pixels=1_000_000)


def test_truncated_image_fails_at_decode_not_at_sniff() -> None:
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise))[:400]
    assert sniff_image(data).format == "PNG"
    with pytest.raises(ImageError, match="corrupt"):
        decode_image(data, SIZE)


def test_a_format_outside_the_accepted_ones_is_refused_unread() -> None:
    # Only the accepted formats' plugins read an upload's header: an icon is not recognised.
    with pytest.raises(ImageError, match="not a recognised image format"):
        sniff_image(encode(Image.new("RGB", (8, 8)), "ICO"))


def test_a_multi_picture_jpeg_is_read_as_its_first_picture() -> None:
    buffer = io.BytesIO()
    first, second = Image.new("RGB", (8, 8), (200, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 200))
    first.save(buffer, "MPO", save_all=True, append_images=[second])
    assert sniff_image(buffer.getvalue()).format == "MPO"
    red, _, blue = decode_image(buffer.getvalue(), SIZE).reshape(-1, 3).mean(axis=0)
    assert red > 150 and blue < 50


def test_pillows_guard_against_huge_images_is_named_as_such() -> None:
    # 10,000 x 10,000 is past Pillow's own guard (89.5 MP, the setting's ceiling).
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    fields = struct.pack(">IIBBBBB", 10_000, 10_000, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", fields) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")
    with pytest.raises(ImageError, match="too many pixels"):
        sniff_image(data)
