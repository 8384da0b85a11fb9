"""core.preprocessing decodes large images in bounded memory, and ordinary ones as before.

Memory is measured as the peak resident size of a fresh interpreter that decodes one file:
Pillow's pixel buffers are allocated outside Python's allocator, so tracemalloc cannot see
them (it saw the float64 copies the 16-bit path used to make, but not the RGBA copies).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from core import preprocessing
from core.preprocessing import decode_image

ROOT = Path(__file__).parents[2]
MIB = 2**20

#: Decodes the file named in argv[1] to 96x96 and prints the peak RSS growth (an upper
#: bound: the high-water mark after, minus the resident size before), the cost estimate
#: and the growth when the cost was reserved.
PROBE = """
import json, sys
from core.preprocessing import decode_image

def status(field):
    line = next(l for l in open("/proc/self/status") if l.startswith(field))
    return int(line.split()[1]) * 1024

data = open(sys.argv[1], "rb").read()
seen = {}
def record(nbytes):
    seen.update(cost=nbytes, growth_before_reserve=status("VmHWM:") - before)
    import contextlib
    return contextlib.nullcontext()

before = status("VmRSS:")
pixels = decode_image(data, (96, 96), reserve=record)
print(json.dumps({"growth": status("VmHWM:") - before, "max": int(pixels.max()), **seen}))
"""


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def decode_in_fresh_process(data: bytes, tmp_path: Path) -> dict[str, int]:
    """Decode `data` in a new interpreter; return what PROBE prints."""
    path = tmp_path / "image"
    path.write_bytes(data)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, int] = json.loads(done.stdout)
    return result


def gradient_16_bit(width: int, height: int) -> Image.Image:
    row = np.linspace(0, 65535, width).astype(np.uint16)
    return Image.fromarray(np.ascontiguousarray(np.broadcast_to(row, (height, width))))


# 16 MP: the old float64 path grew by 352 MiB (22 bytes a pixel), now 32 MiB (2 bytes).
# RGBA: the old full-size RGBA copy, white background and composite grew by 306 MiB (20
# bytes a pixel), the bands now by 143 MiB (9.4). A 20 MP JPEG decodes at 1/8 scale: the
# old full decode grew by 154 MiB, now 3 MiB.
@pytest.mark.parametrize(
    ("name", "make", "bytes_per_pixel"),
    [
        ("16-bit grey PNG", lambda: encode(gradient_16_bit(4000, 4000), compress_level=1), 4),
        (
            "RGBA PNG",
            lambda: encode(Image.new("RGBA", (4000, 4000), (9, 9, 9, 128)), compress_level=1),
            12,
        ),
        ("20 MP JPEG", lambda: encode(Image.new("RGB", (5000, 4000), (200, 90, 40)), "JPEG"), 1),
    ],
)
def test_large_images_decode_in_bounded_memory(
    name: str, make: Callable[[], bytes], bytes_per_pixel: int, tmp_path: Path
) -> None:
    data = make()
    width, height = Image.open(io.BytesIO(data)).size
    result = decode_in_fresh_process(data, tmp_path)
    assert result["max"] > 0, name
    assert result["growth"] < bytes_per_pixel * width * height, (name, result["growth"] / MIB)
    assert result["growth"] < result["cost"] + 8 * MIB, "the reserved cost is an upper bound"
    assert result["growth_before_reserve"] < 8 * MIB, "pixels were decoded before the reserve"


def old_to_rgb(image: Image.Image) -> Image.Image:
    """The conversion decode_image made before it worked in bands (8-bit modes)."""
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def old_decode(data: bytes, size: tuple[int, int], resample: str) -> np.ndarray:
    """What decode_image returned before it bounded its memory, for 8-bit images."""
    image = Image.open(io.BytesIO(data))
    image = old_to_rgb(ImageOps.exif_transpose(image) or image)
    image = image.resize((size[1], size[0]), preprocessing._RESAMPLING[resample])
    return np.asarray(image, dtype=np.uint8)


def noise_image(mode: str, width: int, height: int) -> Image.Image:
    rng = np.random.default_rng(7)
    image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    if mode == "RGBA":
        image.putalpha(Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8)))
        return image
    if mode == "P":
        palette = Image.frombytes("P", (width, height), rng.bytes(width * height))
        palette.putpalette(rng.bytes(768))
        return palette
    return image.convert(mode)


ORIENTED = Image.Exif()
ORIENTED[0x0112] = 6


# 1,500 x 900 pixels is two conversion bands: the seam must not show.
@pytest.mark.parametrize(
    ("mode", "fmt", "params"),
    [
        ("RGB", "PNG", {}),
        ("RGB", "JPEG", {}),
        ("RGB", "JPEG", {"exif": ORIENTED.tobytes()}),
        ("L", "PNG", {}),
        ("LA", "PNG", {}),
        ("RGBA", "PNG", {}),
        ("P", "PNG", {"transparency": 5}),
        ("RGB", "PNG", {"transparency": (0, 0, 0)}),
        ("CMYK", "JPEG", {}),
        ("1", "PNG", {}),
    ],
)
@pytest.mark.parametrize("resample", ["bilinear", "lanczos"])
def test_ordinary_images_decode_byte_for_byte_as_before(
    mode: str, fmt: str, params: dict[str, object], resample: str
) -> None:
    data = encode(noise_image(mode, 1500, 900), fmt, **params)
    expected = old_decode(data, (96, 128), resample)
    np.testing.assert_array_equal(decode_image(data, (96, 128), resample=resample), expected)


def old_wide_decode(data: bytes, size: tuple[int, int]) -> np.ndarray:
    """What decode_image returned before for 16- and 32-bit images: float64 at full size."""
    pixels = np.asarray(Image.open(io.BytesIO(data)), dtype=np.float64)
    low, high = float(pixels.min()), float(pixels.max())
    scaled = (pixels - low) / (high - low) * 255.0
    image = Image.fromarray(scaled.astype(np.uint8)).convert("RGB")
    return np.asarray(image.resize((size[1], size[0]), Image.Resampling.BILINEAR))


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [("I;16", "PNG"), ("I;16", "TIFF"), ("I;16B", "TIFF"), ("I", "TIFF"), ("F", "TIFF")],
)
def test_wide_images_stay_within_one_grey_level_of_before(mode: str, fmt: str) -> None:
    levels = np.random.default_rng(3).integers(0, 65536, (300, 500)).astype(np.uint16)
    image = (
        Image.frombytes(mode, (500, 300), levels.astype(">u2").tobytes())
        if mode == "I;16B"
        else None
    )
    if image is None:
        dtype = {"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]
        image = Image.fromarray(levels.astype(dtype))
    data = encode(image, fmt)
    assert Image.open(io.BytesIO(data)).mode == mode
    new = decode_image(data, (96, 96)).astype(int)
    difference = np.abs(new - old_wide_decode(data, (96, 96)))
    assert difference.max() <= 1  # resampled at 16 bits, then quantised once instead of twice
    assert (new[..., 0] == new[..., 2]).all()


def test_a_huge_jpeg_decoded_at_reduced_scale_looks_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ramp = np.linspace(0, 255, 1600).astype(np.uint8)
    pixels = np.stack([np.broadcast_to(ramp, (1200, 1600))] * 3, axis=2)
    data = encode(Image.fromarray(np.ascontiguousarray(pixels)), "JPEG", quality=95)
    full = decode_image(data, (96, 96)).astype(int)
    monkeypatch.setattr(preprocessing, "DRAFT_MIN_PIXELS", 1000 * 1000)
    reduced = decode_image(data, (96, 96)).astype(int)
    assert np.abs(full - reduced).max() <= 3
