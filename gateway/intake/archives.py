"""Archive uploads (.zip, .tar, .tar.gz): which members are refused, skipped or read.

An archive is checked whole before any of it is stored: one unsafe member (absolute path,
`..`, link, device) or a broken limit (members, total size, compression ratio) refuses
the request with a 4xx that names the member. Members are never written to disk: each
is read into memory (at most the image size limit) and stored by content hash, so no
name inside an archive can reach a path outside the job.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from fastapi import status

from core.settings import Settings

ZIP, TAR, TAR_GZ = "zip", "tar", "tar.gz"
HEAD_BYTES = 512
MAX_NAME = 1024
#: Below this many expanded bytes nothing counts as a bomb, so a few blank tiles pass.
RATIO_FLOOR = 1024 * 1024
JUNK_FILES = frozenset({"thumbs.db", "desktop.ini", "ehthumbs.db"})
JUNK_FOLDERS = frozenset({"__macosx"})
_DRIVE = re.compile(r"^[A-Za-z]:")


class ArchiveRefusedError(Exception):
    """The request is refused because of one archive member; the message names it."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


class ArchiveCorruptError(Exception):
    """The archive cannot be read; it becomes a failed item like any other non-image."""


@dataclass(frozen=True)
class ArchiveLimits:
    """How much one archive may hold and expand to."""

    max_members: int
    max_total_bytes: int
    max_ratio: float
    max_member_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ArchiveLimits:
        """Return the limits configured in settings."""
        return cls(
            settings.max_archive_members,
            settings.max_archive_bytes,
            settings.max_compression_ratio,
            settings.max_image_bytes,
        )


@dataclass(frozen=True)
class Entry:
    """One file read from an archive, or the reason it could not be read."""

    name: str
    size: int
    data: bytes | None = None
    error: str | None = None


@dataclass
class Scan:
    """What checking an archive found: the junk it will skip."""

    skipped: list[str] = field(default_factory=list)


def sniff_archive(head: bytes) -> str | None:
    """Return the archive kind of a file from its first bytes, or None."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return ZIP
    if head.startswith(b"\x1f\x8b"):
        return TAR_GZ
    if head[257:262] == b"ustar":
        return TAR
    return None


def printable(name: str) -> str:
    """Return a name fit for an error message: no control characters, not too long."""
    text = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    return text[:200]


def refuse(archive: str, member: str, problem: str, code: int = 422) -> ArchiveRefusedError:
    """Return the error that refuses a request because of one member."""
    return ArchiveRefusedError(
        code, f"archive '{printable(archive)}': member '{printable(member)}' {problem}"
    )


def member_path(raw: str, archive: str) -> str:
    """Return a member's relative path ('' for a folder); refuse absolute paths and `..`."""
    if "\x00" in raw:
        raise refuse(archive, raw, "has a NUL byte in its name")
    name = unicodedata.normalize("NFC", raw).replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name):
        raise refuse(archive, raw, "has an absolute path")
    parts = [part for part in name.split("/") if part not in {"", "."}]
    if ".." in parts:
        raise refuse(archive, raw, "has a path outside the archive (..)")
    path = "/".join(parts)
    return "".join(ch for ch in path if unicodedata.category(ch)[0] != "C")[:MAX_NAME]


def is_junk(path: str) -> bool:
    """Return whether a member is operating-system clutter or hidden, and so skipped."""
    parts = path.split("/")
    if any(part.startswith(".") or part.lower() in JUNK_FOLDERS for part in parts):
        return True
    return parts[-1].lower() in JUNK_FILES


class Budget:
    """Running totals of one archive, refusing it as soon as a limit is passed."""

    def __init__(self, archive: str, limits: ArchiveLimits) -> None:
        self.archive = archive
        self.limits = limits
        self.members = 0
        self.total = 0

    def count(self, member: str) -> None:
        """Count one more entry (files, folders and junk alike)."""
        self.members += 1
        if self.members > self.limits.max_members:
            problem = f"is past the limit of {self.limits.max_members} members"
            raise refuse(self.archive, member, problem, status.HTTP_413_CONTENT_TOO_LARGE)

    def expand(self, member: str, size: int) -> None:
        """Add a member's uncompressed size to the archive's total."""
        self.total += size
        if self.total > self.limits.max_total_bytes:
            problem = f"takes the archive past {self.limits.max_total_bytes} uncompressed bytes"
            raise refuse(self.archive, member, problem, status.HTTP_413_CONTENT_TOO_LARGE)

    def check_ratio(self, member: str, expanded: int, compressed: int) -> None:
        """Refuse when `compressed` bytes expand to more than the ratio allows (a bomb)."""
        if expanded > RATIO_FLOOR and expanded > self.limits.max_ratio * max(compressed, 1):
            problem = (
                f"expands {expanded / max(compressed, 1):.0f} times, more than the limit of "
                f"{self.limits.max_ratio:g} (compression bomb)"
            )
            raise refuse(self.archive, member, problem, status.HTTP_413_CONTENT_TOO_LARGE)


def too_large(limit: int) -> str:
    """Return the reason given for a file over the image size limit."""
    return f"file is larger than the {limit}-byte limit"
