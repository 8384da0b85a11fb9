"""Tar uploads (plain or gzip): read as a stream, once to check and once to store."""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from gateway.intake.archives import CHUNK, ArchiveCorruptError, Entry, Scan, too_large
from gateway.intake.budget import RequestBudget, refuse
from gateway.intake.names import is_junk, member_path
from gateway.intake.tar_headers import HeaderRefusedError, open_tar, refuse_header

_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError)


def check_type(info: tarfile.TarInfo, archive: str) -> None:
    """Refuse links, devices and anything that is not a plain file or a folder."""
    if info.issym() or info.islnk():
        raise refuse(archive, info.name, f"is a link (to {info.linkname!r})")
    if info.ischr() or info.isblk() or info.isfifo():
        raise refuse(archive, info.name, "is a device or special file")
    if not (info.isreg() or info.isdir()):
        raise refuse(archive, info.name, "is not a plain file or folder")


def padded(size: int) -> int:
    """Return the bytes a member's data takes in the stream (whole 512-byte blocks)."""
    return -(-size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE


@dataclass
class TarScan:
    """One checking pass over a tar stream, charging each member to the request's budget."""

    fileobj: BinaryIO
    budget: RequestBudget
    archive: str
    compressed: bool
    position: int = 1
    last: str | None = None
    consumed: int = 0
    scan: Scan = field(default_factory=Scan)

    def check(self, tar: tarfile.TarFile, info: tarfile.TarInfo) -> None:
        """Count and check one member, its headers (global ones too) and its data."""
        self.budget.count_member(self.archive, info.name)
        self.budget.expand(self.archive, info.name, info.offset_data - self.consumed)
        self.budget.expand(self.archive, info.name, info.size)
        self.position, self.last = self.position + 1, info.name
        self.consumed = info.offset_data + padded(info.size)
        if self.compressed:
            self.check_ratio(info.name, info.offset_data)
        check_type(info, self.archive)
        name = member_path(info.name, self.archive)
        if info.isdir() or not name:
            return
        if self.compressed:
            self.drain(tar, info)
        if is_junk(name):
            self.scan.skipped.append(name)

    def check_ratio(self, member: str, expanded: int) -> None:
        """Refuse when the stream so far expands too far from what was read of the upload."""
        self.budget.check_ratio(self.archive, member, expanded, self.fileobj.tell())

    def drain(self, tar: tarfile.TarFile, info: tarfile.TarInfo) -> None:
        """Decompress a member without keeping it, refusing it as soon as it is a bomb."""
        member = tar.extractfile(info)
        expanded = info.offset_data
        while member is not None and (chunk := member.read(CHUNK)):
            expanded += len(chunk)
            self.check_ratio(info.name, expanded)


def scan_tar(fileobj: BinaryIO, budget: RequestBudget, archive: str, *, compressed: bool) -> Scan:
    """Check every member's name, type, headers and size; gzip data is expanded, then dropped."""
    scan = TarScan(fileobj, budget, archive, compressed)
    try:
        with open_tar(fileobj) as tar:
            for info in tar:
                scan.check(tar, info)
    except HeaderRefusedError as exc:
        raise refuse_header(exc, archive, scan.position, scan.last) from None
    except _READ_ERRORS as exc:
        raise ArchiveCorruptError(f"unreadable tar archive: {exc}") from exc
    return scan.scan


def read_tar(fileobj: BinaryIO, archive: str, budget: RequestBudget) -> Iterator[Entry]:
    """Yield the files of a checked tar, one in memory at a time, junk left out."""
    limit = budget.max_member_bytes
    try:
        with open_tar(fileobj) as tar:
            for info in tar:
                name = member_path(info.name, archive)
                if not info.isreg() or not name or is_junk(name):
                    continue
                if info.size > limit:
                    yield Entry(name, info.size, error=too_large(limit))
                    continue
                member = tar.extractfile(info)
                data = member.read(limit + 1) if member else b""
                budget.inflate(archive, info.name, len(data))
                yield Entry(name, len(data), data=data)
    except (*_READ_ERRORS, HeaderRefusedError) as exc:
        yield Entry(archive, 0, error=f"unreadable tar archive: {exc}")
