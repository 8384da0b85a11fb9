"""The zip central directory, read by the gateway itself before zipfile sees it.

zipfile builds an object for every record up front and trusts the end record's count
nowhere, so a body packed with tiny records costs memory before any check. Here each
record is counted against the request's budget as it is scanned, and entries whose local
headers or data share bytes (one member inflated a hundred times) are refused.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from typing import BinaryIO

from gateway.intake.archives import ArchiveCorruptError
from gateway.intake.budget import RequestBudget, printable, too_much

_END = b"PK\x05\x06"
_END64_LOCATOR = b"PK\x06\x07"
_END64 = b"PK\x06\x06"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
_END_SIZE, _END64_SIZE, _LOCATOR_SIZE = 22, 56, 20
_CENTRAL_SIZE, _LOCAL_SIZE = 46, 30
_UTF8_FLAG = 0x800
_MAX32 = 0xFFFFFFFF


@dataclass(frozen=True)
class Directory:
    """Where the central directory is, and what the end record declares."""

    declared: int
    size: int
    start: int
    shift: int


@dataclass(frozen=True)
class Record:
    """One central-directory record: a member's name, where its header is, its sizes."""

    name: str
    offset: int
    compressed: int
    size: int


def corrupt(problem: str) -> ArchiveCorruptError:
    """Return the error for a zip whose structure cannot be read."""
    return ArchiveCorruptError(f"unreadable zip archive: {problem}")


def find_directory(fileobj: BinaryIO) -> Directory:
    """Return the central directory's place from the end records (zip64 ones included)."""
    size = fileobj.seek(0, 2)
    tail_length = min(size, 65_535 + _END_SIZE)
    fileobj.seek(size - tail_length)
    tail = fileobj.read(tail_length)
    at = tail.rfind(_END)
    if at < 0 or at + _END_SIZE > len(tail):
        raise corrupt("no end of central directory")
    end_at = size - tail_length + at
    declared, length, offset = struct.unpack("<2xH2L", tail[at + 8 : at + 20])
    locator = tail[at - _LOCATOR_SIZE : at] if at >= _LOCATOR_SIZE else b""
    if locator.startswith(_END64_LOCATOR) and end_at >= _LOCATOR_SIZE + _END64_SIZE:
        fileobj.seek(end_at - _LOCATOR_SIZE - _END64_SIZE)  # where zipfile reads it too
        record = fileobj.read(_END64_SIZE)
        if record.startswith(_END64):
            declared, length, offset = struct.unpack("<3Q", record[32:56])
            end_at -= _END64_SIZE + _LOCATOR_SIZE
    shift = end_at - length - offset  # bytes prepended to the archive, as zipfile allows
    if shift < 0:
        raise corrupt("central directory outside the file")
    return Directory(declared, length, offset + shift, shift)


def zip64_sizes(extra: bytes, values: list[int]) -> list[int]:
    """Replace the 0xFFFFFFFF values (size, compressed, offset) from the zip64 extra field."""
    at = 0
    while at + 4 <= len(extra):
        kind, length = struct.unpack("<2H", extra[at : at + 4])
        if kind == 1:
            wide = extra[at + 4 : at + 4 + length]
            found = [struct.unpack("<Q", wide[i : i + 8])[0] for i in range(0, len(wide) - 7, 8)]
            for index, value in enumerate(values):
                if value == _MAX32 and found:
                    values[index] = found.pop(0)
            break
        at += 4 + length
    return values


def read_record(fileobj: BinaryIO) -> Record:
    """Read one central-directory record at the file's position."""
    fixed = fileobj.read(_CENTRAL_SIZE)
    if len(fixed) < _CENTRAL_SIZE or not fixed.startswith(_CENTRAL):
        raise corrupt("bad central directory record")
    (flags,) = struct.unpack("<H", fixed[8:10])
    compressed, size, name_length, extra_length, comment_length = struct.unpack(
        "<2L3H", fixed[20:34]
    )
    (offset,) = struct.unpack("<L", fixed[42:46])
    raw = fileobj.read(name_length)
    extra = fileobj.read(extra_length)
    fileobj.seek(comment_length, 1)
    name = raw.decode("utf-8" if flags & _UTF8_FLAG else "cp437", errors="replace")
    size, compressed, offset = zip64_sizes(extra, [size, compressed, offset])
    return Record(name, offset, compressed, size)


def read_directory(
    fileobj: BinaryIO, directory: Directory, budget: RequestBudget, archive: str
) -> list[Record]:
    """Return the directory's records, each counted against the budget as it is read."""
    fileobj.seek(directory.start)
    end = directory.start + directory.size
    records: list[Record] = []
    while fileobj.tell() < end:
        record = read_record(fileobj)
        budget.count_member(archive, record.name)
        records.append(replace(record, offset=record.offset + directory.shift))
    return records


def local_end(fileobj: BinaryIO, record: Record) -> int:
    """Return where a member's local header and data end, from its local header."""
    fileobj.seek(record.offset)
    header = fileobj.read(_LOCAL_SIZE)
    if len(header) < _LOCAL_SIZE or not header.startswith(_LOCAL):
        raise corrupt(f"no local header for {printable(record.name)!r}")
    name_length, extra_length = struct.unpack("<2H", header[26:30])
    return record.offset + _LOCAL_SIZE + name_length + extra_length + record.compressed


def check_overlaps(
    fileobj: BinaryIO, records: list[Record], directory: Directory, archive: str
) -> None:
    """Refuse entries whose local headers or data share bytes with another's (a zip bomb)."""
    previous: Record | None = None
    previous_end = 0
    for record in sorted(records, key=lambda record: record.offset):
        if previous is not None and record.offset < previous_end:
            problem = (
                f"overlaps member '{printable(previous.name)}' (overlapping entries: zip bomb)"
            )
            raise too_much(archive, record.name, problem)
        previous, previous_end = record, local_end(fileobj, record)
    if previous is not None and previous_end > directory.start:
        raise too_much(archive, previous.name, "overlaps the central directory (zip bomb)")
