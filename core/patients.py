"""Patient identity: one spelling per patient, and the patient a tile's file name encodes.

The summary, the manifest intake, the training split and evaluation all compare patient
IDs through `normalize_id`, so `CASE01`, `case01 ` and a decomposed `é` name one patient.
Raw spellings are kept where they are stored and shown beside the normalised ID.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath

#: File suffixes that can hold a tile; any other file never names a patient.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif"})
#: `<patient>_s<n>` or `<patient>_slide<n>` before the tile number names a slide, not a patient.
SLIDE_PART = re.compile(r"^(?P<patient>.+?)_(?:s|slide)\d+$", re.IGNORECASE)
#: How core.preprocessing's ImageError begins when the bytes are no image at all (a test
#: ties these to sniff_image); a damaged or oversized image is still a patient's image.
NOT_IMAGE_REASONS = ("empty file", "not a recognised image format", "unsupported image format")


def normalize_id(raw: str | None) -> str | None:
    """Return an ID's one spelling: NFC, invisible characters dropped, trimmed, case-folded.

    None (and an ID that is empty once trimmed) stays None: no patient, not a patient "".
    """
    if raw is None:
        return None
    text = unicodedata.normalize("NFC", raw)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in {"Cc", "Cf", "Cn"})
    text = unicodedata.normalize("NFC", text.strip().casefold())
    return text or None


@dataclass(frozen=True)
class NameIdentity:
    """The patient (and slide, when the name has one) a tile's file name encodes."""

    patient_id: str
    slide_id: str | None = None


def identity_from_name(name: str) -> NameIdentity | None:
    """Return the patient (and slide) of `<patient>[_s<n>]_<tile>.<ext>`; None for a non-image.

    The patient is the stem up to its last `_`; when that part ends in `_s<n>` or
    `_slide<n>`, it is the slide (kept whole, so it names one slide) and the patient is
    what comes before it. `P0001_s2_0013.png` is patient `P0001`, slide `P0001_s2`.
    """
    path = PurePosixPath(name.replace("\\", "/"))
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return None
    stem = path.stem
    prefix = stem.rsplit("_", 1)[0] if "_" in stem else stem
    slide = SLIDE_PART.match(prefix)
    if slide is None:
        return NameIdentity(prefix)
    return NameIdentity(slide["patient"], prefix)


def is_not_image(error: str | None) -> bool:
    """Return whether an intake refusal says the file was not an image at all."""
    return error is not None and error.startswith(NOT_IMAGE_REASONS)
