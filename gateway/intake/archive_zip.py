"""Zip uploads: checked from a central directory the gateway reads itself, then read a
member at a time with every inflated byte charged to the request's budget."""

from __future__ import annotations

import stat
import zipfile
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from gateway.intake.archives import CHUNK, ArchiveCorruptError, Entry, Scan, too_large
from gateway.intake.budget import RequestBudget, refuse
from gateway.intake.names import is_junk, member_path
from gateway.intake.zip_directory import check_overlaps, find_directory, read_directory

_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError)
_SPECIAL = (stat.S_ISCHR, stat.S_ISBLK, stat.S_ISFIFO, stat.S_ISSOCK)


def check_type(info: zipfile.ZipInfo, archive: str) -> None:
    """Refuse symbolic links and device or special files."""
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise refuse(archive, info.filename, "is a symbolic link")
    if any(test(mode) for test in _SPECIAL):
        raise refuse(archive, info.filename, "is a device or special file")


def open_zip(fileobj: BinaryIO) -> zipfile.ZipFile:
    """Open a zip from the spooled upload, turning parse errors into ArchiveCorruptError."""
    fileobj.seek(0)
    try:
        return zipfile.ZipFile(fileobj)
    except _READ_ERRORS as exc:
        raise ArchiveCorruptError(f"unreadable zip archive: {exc}") from exc


def scan_zip(fileobj: BinaryIO, budget: RequestBudget, archive_name: str) -> Scan:
    """Count and check every member before zipfile parses them; nothing is decompressed."""
    directory = find_directory(fileobj)
    budget.check_declared(archive_name, directory.declared)
    records = read_directory(fileobj, directory, budget, archive_name)
    check_overlaps(fileobj, records, directory, archive_name)
    scan = Scan()
    with open_zip(fileobj) as archive:
        if len(archive.infolist()) != len(records):
            raise ArchiveCorruptError("unreadable zip archive: inconsistent central directory")
        for info in archive.infolist():
            check_type(info, archive_name)
            name = member_path(info.filename, archive_name)
            if info.is_dir() or not name:
                continue
            budget.expand(archive_name, info.filename, info.file_size)
            budget.check_ratio(archive_name, info.filename, info.file_size, info.compress_size)
            if is_junk(name):
                scan.skipped.append(name)
    return scan


def inflate(member: BinaryIO, info: zipfile.ZipInfo, archive: str, budget: RequestBudget) -> bytes:
    """Read a member chunk by chunk, charging the bytes that actually come out."""
    chunks: list[bytes] = []
    total = 0
    while total <= budget.max_member_bytes and (chunk := member.read(CHUNK)):
        total += len(chunk)
        budget.inflate(archive, info.filename, len(chunk))
        budget.check_ratio(archive, info.filename, total, info.compress_size)
        chunks.append(chunk)
    return b"".join(chunks)


def read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, archive_name: str, budget: RequestBudget
) -> Entry:
    """Read one member into memory, or say why it cannot be read."""
    name = member_path(info.filename, archive_name)
    limit = budget.max_member_bytes
    if info.file_size > limit:
        return Entry(name, info.file_size, error=too_large(limit))
    if info.flag_bits & 0x1:
        return Entry(name, info.file_size, error="encrypted archive member")
    try:
        # zipfile stops at the declared size and checks the CRC, so a lying header fails here.
        with archive.open(info) as member:
            data = inflate(member, info, archive_name, budget)  # type: ignore[arg-type]
    except _READ_ERRORS as exc:
        return Entry(name, info.file_size, error=f"unreadable archive member: {exc}")
    return Entry(name, len(data), data=data)


def read_zip(fileobj: BinaryIO, archive_name: str, budget: RequestBudget) -> Iterator[Entry]:
    """Yield the files of a checked zip, one in memory at a time, junk left out."""
    with open_zip(fileobj) as archive:
        for info in archive.infolist():
            name = member_path(info.filename, archive_name)
            if info.is_dir() or not name or is_junk(name):
                continue
            yield read_member(archive, info, archive_name, budget)
