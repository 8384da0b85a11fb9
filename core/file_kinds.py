"""What kind of file an upload is, by its content: an archive, an image, or neither.

The gateway sniffs every part this way; the client uses the same rule to leave a folder's
other files (logs, notes, spreadsheets) out of a submission before sending them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

ZIP, TAR, TAR_GZ = "zip", "tar", "tar.gz"
HEAD_BYTES = 512  # enough for every archive signature (tar's sits at offset 257)


def sniff_archive(head: bytes) -> str | None:
    """Return the archive kind of a file from its first bytes, or None."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return ZIP
    if head.startswith(b"\x1f\x8b"):
        return TAR_GZ
    if head[257:262] == b"ustar":
        return TAR
    return None


def looks_like_image(data: bytes) -> bool:
    """Return whether bytes are in an accepted image format, judged from the header.

    A huge image still counts as one: the gateway refuses it with its own reason.
    """
    # Pillow loads on the first call: the gateway imports this module for sniff_archive
    # alone, and starts faster without Pillow.
    from PIL import Image, UnidentifiedImageError

    from core.preprocessing import ACCEPTED_FORMATS, HEADER_ERRORS, open_image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with open_image(data) as image:
                return image.format in ACCEPTED_FORMATS
    except Image.DecompressionBombError:
        return True
    except (UnidentifiedImageError, *HEADER_ERRORS):
        return False


def is_upload_content(path: Path) -> bool:
    """Return whether a file is an image or an archive by content, as the gateway sees it."""
    data = path.read_bytes()
    return sniff_archive(data[:HEAD_BYTES]) is not None or looks_like_image(data)
