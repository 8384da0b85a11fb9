"""Archive uploads (.zip, .tar, .tar.gz): what a reader yields (core.file_kinds sniffs them).

An archive is checked whole before any of it is stored: one unsafe member (absolute path,
`..`, link, device) or a broken limit (members, total size, compression ratio, header
size, overlapping entries) refuses the request with a 4xx that names the member. Members
are never written to disk: each is read into memory (at most the image size limit) and
stored by content hash, so no name inside an archive can reach a path outside the job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CHUNK = 1024 * 1024


class ArchiveCorruptError(Exception):
    """The archive cannot be read; it becomes a failed item like any other non-image."""


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


def too_large(limit: int) -> str:
    """Return the reason given for a file over the image size limit."""
    return f"file is larger than the {limit}-byte limit"
