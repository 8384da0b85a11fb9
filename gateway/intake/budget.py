"""One budget per request: every reader charges it, so no format can forget a limit.

Readers charge what they count themselves (members seen, bytes actually inflated, header
bytes, manifest rows), never a size or count the input declares about itself; a
declared size may only refuse a request earlier.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from fastapi import HTTPException, status

from core.settings import Settings

#: Below this many expanded bytes nothing counts as a bomb, so a few blank tiles pass.
RATIO_FLOOR = 1024 * 1024


class RefusedError(HTTPException):
    """The request is refused because of what it brought; the detail says why."""


def printable(name: str) -> str:
    """Return a name fit for an error message: no control characters, not too long."""
    text = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    return text[:200]


def refuse(archive: str, member: str, problem: str, code: int = 422) -> RefusedError:
    """Return the error that refuses a request because of one archive member."""
    return RefusedError(
        code, f"archive '{printable(archive)}': member '{printable(member)}' {problem}"
    )


def too_much(archive: str, member: str, problem: str) -> RefusedError:
    """Return the 413 that refuses a request because of one archive member."""
    return refuse(archive, member, problem, status.HTTP_413_CONTENT_TOO_LARGE)


@dataclass
class RequestBudget:
    """What one request may still bring in, and what it has brought so far."""

    max_received: int
    max_members: int
    max_expanded: int
    max_ratio: float
    max_member_bytes: int
    max_manifest_rows: int
    received: int = 0
    members: int = 0
    expanded: int = 0
    inflated: int = 0
    manifest_rows: int = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> RequestBudget:
        """Return a fresh budget with the limits configured in settings."""
        return cls(
            max_received=settings.max_upload_bytes,
            max_members=settings.max_archive_members,
            max_expanded=settings.max_archive_bytes,
            max_ratio=settings.max_compression_ratio,
            max_member_bytes=settings.max_image_bytes,
            max_manifest_rows=settings.max_manifest_rows,
        )

    def receive(self, part: str, size: int) -> None:
        """Charge a part's bytes as received."""
        self.received += size
        if self.received > self.max_received:
            raise RefusedError(
                status.HTTP_413_CONTENT_TOO_LARGE,
                f"part '{printable(part)}' takes the request past {self.max_received} bytes",
            )

    def count_member(self, archive: str, member: str) -> None:
        """Count one more archive entry (files, folders and junk alike, every archive)."""
        self.members += 1
        if self.members > self.max_members:
            problem = f"takes the request past the limit of {self.max_members} members"
            raise too_much(archive, member, problem)

    def check_declared(self, archive: str, declared: int) -> None:
        """Refuse early an archive that itself declares more entries than are left."""
        if self.members + declared > self.max_members:
            raise RefusedError(
                status.HTTP_413_CONTENT_TOO_LARGE,
                f"archive '{printable(archive)}' declares {declared} members, which takes "
                f"the request past the limit of {self.max_members} members",
            )

    def expand(self, archive: str, member: str, size: int) -> None:
        """Charge a member's size (stored, or declared by a zip) to the request's total."""
        self.expanded += size
        if self.expanded > self.max_expanded:
            problem = f"takes the archive past {self.max_expanded} uncompressed bytes"
            raise too_much(archive, member, problem)

    def inflate(self, archive: str, member: str, size: int) -> None:
        """Charge bytes actually decompressed for this request, as they come out."""
        self.inflated += size
        if self.inflated > self.max_expanded:
            problem = f"inflates the request past {self.max_expanded} bytes"
            raise too_much(archive, member, problem)

    def check_ratio(self, archive: str, member: str, expanded: int, compressed: int) -> None:
        """Refuse when `compressed` bytes expand to more than the ratio allows (a bomb)."""
        if expanded > RATIO_FLOOR and expanded > self.max_ratio * max(compressed, 1):
            problem = (
                f"expands {expanded / max(compressed, 1):.0f} times, more than the limit of "
                f"{self.max_ratio:g} (compression bomb)"
            )
            raise too_much(archive, member, problem)

    def count_rows(self, rows: int) -> None:
        """Charge manifest rows read."""
        self.manifest_rows += rows
        if self.manifest_rows > self.max_manifest_rows:
            raise RefusedError(
                status.HTTP_413_CONTENT_TOO_LARGE,
                f"manifest: more than the limit of {self.max_manifest_rows} rows",
            )
