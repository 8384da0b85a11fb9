"""Zip uploads: checked from the central directory, then read a member at a time."""

from __future__ import annotations

import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from fastapi import status

from gateway.intake.archives import (
    ArchiveCorruptError,
    ArchiveLimits,
    ArchiveRefusedError,
    Budget,
    Entry,
    Scan,
    is_junk,
    member_path,
    printable,
    refuse,
    too_large,
)

_END = b"PK\x05\x06"
_END64_LOCATOR = b"PK\x06\x07"
_END64 = b"PK\x06\x06"
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError)
_SPECIAL = (stat.S_ISCHR, stat.S_ISBLK, stat.S_ISFIFO, stat.S_ISSOCK)


def declared_entries(fileobj: BinaryIO) -> int | None:
    """Return the entry count the end-of-archive record declares, before parsing entries.

    zipfile builds an object per entry up front, so a body packed with tiny entries is
    refused from this number before it can take the memory.
    """
    size = fileobj.seek(0, 2)
    tail_length = min(size, 65_535 + 22)
    fileobj.seek(size - tail_length)
    tail = fileobj.read(tail_length)
    at = tail.rfind(_END)
    if at < 0 or at + 22 > len(tail):
        return None
    (count,) = struct.unpack("<H", tail[at + 10 : at + 12])
    locator = tail[at - 20 : at] if at >= 20 else b""
    if count == 0xFFFF and locator.startswith(_END64_LOCATOR):
        (offset,) = struct.unpack("<Q", locator[8:16])
        fileobj.seek(offset)
        record = fileobj.read(56)
        if record.startswith(_END64) and len(record) == 56:
            (count,) = struct.unpack("<Q", record[32:40])
    return int(count)


def check_type(info: zipfile.ZipInfo, archive: str) -> None:
    """Refuse symbolic links and device or special files."""
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise refuse(archive, info.filename, "is a symbolic link")
    if any(test(mode) for test in _SPECIAL):
        raise refuse(archive, info.filename, "is a device or special file")


def open_zip(fileobj: BinaryIO, archive: str) -> zipfile.ZipFile:
    """Open a zip from the spooled upload, turning parse errors into ArchiveCorruptError."""
    try:
        return zipfile.ZipFile(fileobj)
    except _READ_ERRORS as exc:
        raise ArchiveCorruptError(f"unreadable zip archive: {exc}") from exc


def scan_zip(fileobj: BinaryIO, budget: Budget) -> Scan:
    """Check every member's name, type and declared sizes; nothing is decompressed."""
    declared = declared_entries(fileobj)
    if declared is not None and declared > budget.limits.max_members:
        detail = (
            f"archive '{printable(budget.archive)}' declares {declared} members, more than "
            f"the limit of {budget.limits.max_members}"
        )
        raise ArchiveRefusedError(status.HTTP_413_CONTENT_TOO_LARGE, detail)
    fileobj.seek(0)
    scan = Scan()
    with open_zip(fileobj, budget.archive) as archive:
        for info in archive.infolist():
            budget.count(info.filename)
            check_type(info, budget.archive)
            name = member_path(info.filename, budget.archive)
            if info.is_dir() or not name:
                continue
            budget.expand(info.filename, info.file_size)
            budget.check_ratio(info.filename, info.file_size, info.compress_size)
            if is_junk(name):
                scan.skipped.append(name)
    return scan


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, limit: int) -> Entry:
    """Read one member into memory, or say why it cannot be read."""
    if info.file_size > limit:
        return Entry(name, info.file_size, error=too_large(limit))
    if info.flag_bits & 0x1:
        return Entry(name, info.file_size, error="encrypted archive member")
    try:
        # zipfile stops at the declared size and checks the CRC, so a lying header fails here.
        with archive.open(info) as member:
            data = member.read(limit + 1)
    except _READ_ERRORS as exc:
        return Entry(name, info.file_size, error=f"unreadable archive member: {exc}")
    return Entry(name, len(data), data=data)


def read_zip(fileobj: BinaryIO, archive_name: str, limits: ArchiveLimits) -> Iterator[Entry]:
    """Yield the files of a checked zip, one in memory at a time, junk left out."""
    fileobj.seek(0)
    with open_zip(fileobj, archive_name) as archive:
        for info in archive.infolist():
            name = member_path(info.filename, archive_name)
            if info.is_dir() or not name or is_junk(name):
                continue
            yield read_member(archive, info, name, limits.max_member_bytes)
