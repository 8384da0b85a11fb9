"""Tar uploads (plain or gzip): read as a stream, once to check and once to store.

tarfile reads a GNU long-name or pax header whole into memory, whatever size it claims,
so headers are opened by `CappedTarInfo`, which refuses one past the limit before a byte
of it is read.
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from fastapi import status

from gateway.intake.archives import CHUNK, ArchiveCorruptError, Entry, Scan, too_large
from gateway.intake.budget import (
    MAX_HEADER_BYTES,
    MAX_PAX_RECORDS,
    RefusedError,
    RequestBudget,
    printable,
    refuse,
)
from gateway.intake.names import is_junk, member_path

_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError)
_HEADER_KINDS = {
    tarfile.GNUTYPE_LONGNAME: "GNU long-name",
    tarfile.GNUTYPE_LONGLINK: "GNU long-link",
    tarfile.XHDTYPE: "pax",
    tarfile.XGLTYPE: "pax global",
    tarfile.SOLARIS_XHDTYPE: "pax",
}


class HeaderRefusedError(Exception):
    """An extended header is too large or holds too many records."""

    def __init__(self, kind: str, size: int) -> None:
        super().__init__(kind, size)
        self.kind = kind
        self.size = size


class CappedTarInfo(tarfile.TarInfo):
    """A TarInfo that will not read an extended header past the limits."""

    def _proc_member(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        kind = _HEADER_KINDS.get(self.type)
        if kind is not None and self.size > MAX_HEADER_BYTES:
            raise HeaderRefusedError(kind, self.size)
        member: tarfile.TarInfo = super()._proc_member(tar)  # type: ignore[misc]
        if len(member.pax_headers) > MAX_PAX_RECORDS:
            raise HeaderRefusedError(f"pax header with {len(member.pax_headers)} records", 0)
        return member


def open_tar(fileobj: BinaryIO) -> tarfile.TarFile:
    """Open a tar stream (gzip or not) whose headers are capped."""
    fileobj.seek(0)
    return tarfile.open(fileobj=fileobj, mode="r|*", tarinfo=CappedTarInfo)


def refuse_header(
    exc: HeaderRefusedError, archive: str, position: int, after: str | None
) -> RefusedError:
    """Return the 413 naming the member (by position: its name is in the header) refused."""
    where = f"member {position}" + (f" (after '{printable(after)}')" if after else "")
    problem = (
        f"has a {exc.size}-byte {exc.kind} header, more than the limit of {MAX_HEADER_BYTES}"
        if exc.size
        else f"has a {exc.kind}, more than the limit of {MAX_PAX_RECORDS}"
    )
    return RefusedError(
        status.HTTP_413_CONTENT_TOO_LARGE, f"archive '{printable(archive)}': {where} {problem}"
    )


def check_type(info: tarfile.TarInfo, archive: str) -> None:
    """Refuse links, devices and anything that is not a plain file or a folder."""
    if info.issym() or info.islnk():
        raise refuse(archive, info.name, f"is a link (to {info.linkname!r})")
    if info.ischr() or info.isblk() or info.isfifo():
        raise refuse(archive, info.name, "is a device or special file")
    if not (info.isreg() or info.isdir()):
        raise refuse(archive, info.name, "is not a plain file or folder")


def drain(
    tar: tarfile.TarFile,
    info: tarfile.TarInfo,
    budget: RequestBudget,
    archive: str,
    fileobj: BinaryIO,
) -> None:
    """Decompress a member without keeping it, refusing it as soon as it looks like a bomb."""
    member = tar.extractfile(info)
    if member is None:
        return
    expanded = info.offset_data
    while chunk := member.read(CHUNK):
        expanded += len(chunk)
        budget.check_ratio(archive, info.name, expanded, fileobj.tell())


def check_member(
    tar: tarfile.TarFile,
    info: tarfile.TarInfo,
    budget: RequestBudget,
    archive: str,
    fileobj: BinaryIO,
    *,
    compressed: bool,
) -> str | None:
    """Count and check one member; return its path when it is a file, else None."""
    budget.count_member(archive, info.name)
    budget.expand(archive, info.name, info.offset_data - info.offset)  # its headers
    check_type(info, archive)
    name = member_path(info.name, archive)
    if info.isdir() or not name:
        return None
    budget.expand(archive, info.name, info.size)
    if compressed:
        drain(tar, info, budget, archive, fileobj)
    return name


def scan_tar(fileobj: BinaryIO, budget: RequestBudget, archive: str, *, compressed: bool) -> Scan:
    """Check every member's name, type, headers and size; gzip data is expanded, then dropped."""
    scan = Scan()
    position, last = 1, None
    try:
        with open_tar(fileobj) as tar:
            for info in tar:
                name = check_member(tar, info, budget, archive, fileobj, compressed=compressed)
                if name and is_junk(name):
                    scan.skipped.append(name)
                position, last = position + 1, info.name
    except HeaderRefusedError as exc:
        raise refuse_header(exc, archive, position, last) from None
    except _READ_ERRORS as exc:
        raise ArchiveCorruptError(f"unreadable tar archive: {exc}") from exc
    return scan


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
