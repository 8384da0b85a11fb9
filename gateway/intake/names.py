"""File and member names: cleaned into labels, refused when they try to leave the archive.

A name is cleaned before it is checked, so an invisible character cannot hide a `..`
that cleaning would reveal.
"""

from __future__ import annotations

import re
import unicodedata

from gateway.intake.budget import refuse

MAX_NAME = 1024
JUNK_FILES = frozenset({"thumbs.db", "desktop.ini", "ehthumbs.db"})
JUNK_FOLDERS = frozenset({"__macosx"})
_DRIVE = re.compile(r"^[A-Za-z]:")


def visible(text: str) -> str:
    """Return NFC text without control, format (zero-width, bidi) or unassigned characters."""
    kept = "".join(
        ch for ch in unicodedata.normalize("NFC", text) if unicodedata.category(ch)[0] != "C"
    )
    return unicodedata.normalize("NFC", kept)


def clean_filename(raw: str | None, position: int) -> str:
    """Return a printable relative name for an uploaded part: no leading slashes."""
    name = visible(raw or "").replace("\\", "/").lstrip("/").strip()
    return name[:MAX_NAME] or f"upload-{position}"


def member_path(raw: str, archive: str) -> str:
    """Return a member's relative path ('' for a folder); refuse absolute paths and `..`."""
    if "\x00" in raw:
        raise refuse(archive, raw, "has a NUL byte in its name")
    name = visible(raw).replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name):
        raise refuse(archive, raw, "has an absolute path")
    parts = [part for part in name.split("/") if part not in {"", "."}]
    if ".." in parts:
        raise refuse(archive, raw, "has a path outside the archive (..)")
    return "/".join(parts)[:MAX_NAME]


def is_junk(path: str) -> bool:
    """Return whether a member is operating-system clutter or hidden, and so skipped."""
    parts = path.split("/")
    if any(part.startswith(".") or part.lower() in JUNK_FOLDERS for part in parts):
        return True
    return parts[-1].lower() in JUNK_FILES
