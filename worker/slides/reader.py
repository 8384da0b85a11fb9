"""Open whole-slide images: tiffslide for SVS and pyramidal TIFF, OpenSlide for the rest.

A slide that cannot be opened, whose pixels cannot be decoded (a truncated file) or that
has no pixel size where the model needs one raises SlideError with a one-line reason that
becomes the slide's failure; other slides of the job go on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Protocol

import numpy as np

logger = logging.getLogger(__name__)

#: Suffixes tiffslide reads (through fsspec, without copying); OpenSlide gets the rest.
TIFFSLIDE_SUFFIXES = frozenset({".svs", ".tif", ".tiff"})
#: First bytes of a TIFF (classic and BigTIFF, both byte orders): how an uploaded slide,
#: stored under its content hash with no suffix, is given to tiffslide.
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


class SlideError(ValueError):
    """Raised when a slide cannot be used; the message is the slide's failure reason."""


class SlideBackend(Protocol):
    """What tiffslide.TiffSlide and openslide.OpenSlide both offer."""

    @property
    def level_dimensions(self) -> Any:
        """Return (width, height) of each level."""

    @property
    def level_downsamples(self) -> Any:
        """Return each level's downsample from level 0."""

    @property
    def properties(self) -> Any:
        """Return the slide's metadata as a mapping."""

    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> Any:
        """Return a PIL image of a region at a level, located in level-0 pixels."""

    def get_thumbnail(self, size: tuple[int, int]) -> Any:
        """Return a PIL image that fits in size."""

    def close(self) -> None:
        """Release the file."""


@dataclass
class Slide:
    """An open slide: its levels, pixel size (µm/px, None when unknown) and backend."""

    url: str
    backend: SlideBackend
    mpp: float | None

    @property
    def dimensions(self) -> tuple[int, int]:
        """Return (width, height) of level 0."""
        width, height = self.backend.level_dimensions[0]
        return int(width), int(height)

    @property
    def downsamples(self) -> list[float]:
        """Return each level's downsample from level 0."""
        return [float(d) for d in self.backend.level_downsamples]

    def read(self, x: int, y: int, level: int, size: int) -> np.ndarray:
        """Return an RGB uint8 square region at a level; SlideError if it cannot be decoded."""
        return self.read_rect(x, y, level, size, size)

    def read_rect(self, x: int, y: int, level: int, width: int, height: int) -> np.ndarray:
        """Return an RGB uint8 region of `width` x `height` at a level, located at level-0
        (x, y); SlideError if it cannot be decoded."""
        try:
            region = self.backend.read_region((x, y), level, (width, height))
            return np.asarray(region.convert("RGB"))
        except Exception as exc:
            raise SlideError(
                f"truncated or corrupt slide: region at ({x}, {y}) unreadable"
            ) from exc

    def thumbnail(self, longest: int) -> np.ndarray:
        """Return an RGB thumbnail whose longest side is at most `longest` pixels."""
        try:
            image = self.backend.get_thumbnail((longest, longest))
            return np.asarray(image.convert("RGB"))
        except Exception as exc:
            raise SlideError("truncated or corrupt slide: its thumbnail cannot be read") from exc

    def close(self) -> None:
        """Release the file handle."""
        self.backend.close()


def read_mpp(properties: Any) -> float | None:
    """Return the slide's µm per pixel from its properties, or None when it has none."""
    for key in ("tiffslide.mpp-x", "openslide.mpp-x", "aperio.MPP"):
        value = properties.get(key)
        try:
            mpp = float(value) if value is not None else 0.0
        except ValueError:
            continue
        if mpp > 0:
            return mpp
    return None


def is_tiff(url: str) -> bool:
    """Return whether the file at the URL starts like a TIFF."""
    import fsspec

    with fsspec.open(url, "rb") as stream:
        return bytes(stream.read(4)) in TIFF_MAGIC


def open_backend(url: str) -> SlideBackend:
    """Open a slide with the library that reads its format (by suffix, else by its bytes)."""
    suffix = PurePosixPath(url.split("?")[0]).suffix.lower()
    if suffix in TIFFSLIDE_SUFFIXES or (not suffix and is_tiff(url)):
        import tiffslide

        return tiffslide.TiffSlide(url)  # type: ignore[no-any-return,return-value,unused-ignore]
    import openslide

    if "://" in url and not url.startswith("file://"):
        raise SlideError(f"{suffix or 'this'} slides are read from local paths only")
    return openslide.OpenSlide(url.removeprefix("file://"))  # type: ignore[no-any-return,return-value,unused-ignore]


def open_slide(url: str) -> Slide:
    """Open a slide and read its pixel size; SlideError says why it cannot be used."""
    try:
        backend = open_backend(url)
    except SlideError:
        raise
    except ImportError as exc:  # fsspec: "Install s3fs to access S3"
        raise SlideError(f"this worker cannot read {url.split('://')[0]}:// slides: {exc}") from exc
    except FileNotFoundError as exc:
        raise SlideError("slide not found") from exc
    except Exception as exc:
        logger.info("cannot open slide %s: %s", url, exc)
        raise SlideError(
            "unreadable slide: not a format tiffslide or OpenSlide reads "
            f"({exc.__class__.__name__})"
        ) from exc
    return Slide(url, backend, read_mpp(backend.properties))
