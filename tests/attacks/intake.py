"""What the intake attacks share: what the target stored, its peak memory during a call,
and hostile archives built byte by byte (so building one costs the test little)."""

from __future__ import annotations

import io
import random
import struct
import tarfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import func, select

from db.models import Item, Job, ManifestEntry
from db.session import get_session
from tests.attacks.conftest import Target

MIB = 2**20


@dataclass(frozen=True)
class Stored:
    """What the target holds: blob files and rows."""

    blobs: int
    jobs: int
    items: int
    manifest_rows: int


def stored(target: Target) -> Stored:
    """Return how many blobs, jobs, items and manifest rows the target holds."""
    with get_session(target.database_url) as session:
        counts = [
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Job, Item, ManifestEntry)
        ]
    return Stored(target.blob_count(), *counts)


@contextmanager
def peak_rss(target: Target) -> Iterator[Callable[[], int]]:
    """Sample the target's RSS every 5 ms; yield a function returning the peak growth."""
    baseline = target.rss()
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, target.rss())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield lambda: peak - baseline
    finally:
        done.set()
        sampler.join()


def local_header(name: bytes, crc: int, compressed: int, size: int, method: int = 8) -> bytes:
    """Return a zip local file header."""
    fields = (b"PK\x03\x04", 20, 0, method, 0, 0, crc, compressed, size, len(name), 0)
    return struct.pack("<4s5H3L2H", *fields) + name


def central_record(
    name: bytes, crc: int, compressed: int, size: int, offset: int, method: int = 8
) -> bytes:
    """Return a zip central-directory record pointing at the local header at `offset`."""
    fields = (b"PK\x01\x02", 20, 20, 0, method, 0, 0, crc, compressed, size, len(name))
    tail = (0, 0, 0, 0, 0, offset)
    return struct.pack("<4s6H3L5H2L", *fields, *tail) + name


def end_record(declared: int, directory_size: int, directory_offset: int) -> bytes:
    """Return a zip end-of-central-directory record declaring `declared` entries."""
    fields = (b"PK\x05\x06", 0, 0, declared, declared, directory_size, directory_offset, 0)
    return struct.pack("<4s4H2LH", *fields)


def overlapping_zip(copies: int = 100, size: int = 20 * MIB) -> bytes:
    """Return a small zip whose `copies` entries all point at one `size`-byte member.

    A slice of random bytes keeps each entry's declared ratio under the default limit.
    """
    data = random.Random(0).randbytes(120_000) + bytes(size - 120_000)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = packer.compress(data) + packer.flush()
    crc, name = zlib.crc32(data), b"tile.png"
    body = local_header(name, crc, len(packed), size) + packed
    directory = central_record(name, crc, len(packed), size, 0) * copies
    return body + directory + end_record(copies, len(directory), len(body))


def crowded_zip(records: int, declared: int = 1) -> bytes:
    """Return a zip whose end record declares `declared` entries but holding `records`."""
    body = local_header(b"a", 0, 0, 0, method=0)
    directory = central_record(b"a", 0, 0, 0, 0, method=0) * records
    return body + directory + end_record(declared, len(directory), len(body))


def long_name_tar_gz(name_bytes: int, then: dict[str, bytes]) -> bytes:
    """Return a .tar.gz starting with a GNU long-name header of `name_bytes` bytes."""
    header = bytearray(512)
    header[0:13] = b"././@LongLink"
    header[100:108] = b"0000644\0"
    header[124:136] = f"{name_bytes:011o}\0".encode()
    header[156:157] = b"L"
    header[257:265] = b"ustar  \0"
    header[148:156] = b" " * 8
    header[148:156] = f"{sum(header):06o}\0 ".encode()
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    parts = [packer.compress(bytes(header))]
    chunk = b"a" * MIB
    for start in range(0, name_bytes, MIB):
        parts.append(packer.compress(chunk[: min(MIB, name_bytes - start)]))
    parts.append(packer.compress(bytes(-name_bytes % 512)))
    parts.append(packer.compress(plain_tar(then)))
    return b"".join(parts) + packer.flush()


def plain_tar(members: dict[str, bytes]) -> bytes:
    """Return an uncompressed tar of the members."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
