"""Tar uploads (plain or gzip): read as a stream, once to check and once to store."""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from gateway.intake.archives import (
    ArchiveCorruptError,
    ArchiveLimits,
    Budget,
    Entry,
    Scan,
    is_junk,
    member_path,
    refuse,
    too_large,
)

CHUNK = 1024 * 1024
_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError)


def check_type(info: tarfile.TarInfo, archive: str) -> None:
    """Refuse links, devices and anything that is not a plain file or a folder."""
    if info.issym() or info.islnk():
        raise refuse(archive, info.name, f"is a link (to {info.linkname!r})")
    if info.ischr() or info.isblk() or info.isfifo():
        raise refuse(archive, info.name, "is a device or special file")
    if not (info.isreg() or info.isdir()):
        raise refuse(archive, info.name, "is not a plain file or folder")


def drain(tar: tarfile.TarFile, info: tarfile.TarInfo, budget: Budget, fileobj: BinaryIO) -> None:
    """Decompress a member without keeping it, refusing it as soon as it looks like a bomb."""
    member = tar.extractfile(info)
    if member is None:
        return
    expanded = info.offset_data
    while chunk := member.read(CHUNK):
        expanded += len(chunk)
        budget.check_ratio(info.name, expanded, fileobj.tell())


def scan_tar(fileobj: BinaryIO, budget: Budget, *, compressed: bool) -> Scan:
    """Check every member's name, type and size; gzip data is expanded once, then dropped."""
    scan = Scan()
    try:
        with tarfile.open(fileobj=fileobj, mode="r|*") as tar:
            for info in tar:
                budget.count(info.name)
                check_type(info, budget.archive)
                name = member_path(info.name, budget.archive)
                if info.isdir() or not name:
                    continue
                budget.expand(info.name, info.size)
                if compressed:
                    drain(tar, info, budget, fileobj)
                if is_junk(name):
                    scan.skipped.append(name)
    except _READ_ERRORS as exc:
        raise ArchiveCorruptError(f"unreadable tar archive: {exc}") from exc
    return scan


def read_tar(fileobj: BinaryIO, archive: str, limits: ArchiveLimits) -> Iterator[Entry]:
    """Yield the files of a checked tar, one in memory at a time, junk left out."""
    limit = limits.max_member_bytes
    try:
        with tarfile.open(fileobj=fileobj, mode="r|*") as tar:
            for info in tar:
                name = member_path(info.name, archive)
                if not info.isreg() or not name or is_junk(name):
                    continue
                if info.size > limit:
                    yield Entry(name, info.size, error=too_large(limit))
                    continue
                member = tar.extractfile(info)
                data = member.read(limit + 1) if member else b""
                yield Entry(name, len(data), data=data)
    except _READ_ERRORS as exc:
        yield Entry(archive, 0, error=f"unreadable tar archive: {exc}")
