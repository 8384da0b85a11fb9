"""Turn uploaded files and archives into stored blobs and job items; refuse non-images."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from fastapi import HTTPException, UploadFile

from core.preprocessing import ImageError, sniff_image
from core.settings import Settings
from core.storage import BlobStore, content_hash
from db.jobs import NewItem
from gateway.intake import archive_tar, archive_zip
from gateway.intake.archives import (
    HEAD_BYTES,
    TAR_GZ,
    ZIP,
    ArchiveCorruptError,
    ArchiveLimits,
    ArchiveRefusedError,
    Budget,
    Entry,
    Scan,
    sniff_archive,
    too_large,
)

MAX_FILENAME = 1024


@dataclass
class Intake:
    """What a request brought: items to insert (refused ones included, marked failed)."""

    items: list[NewItem] = field(default_factory=list)
    oversized: int = 0
    skipped: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> list[NewItem]:
        """Return the items that will be queued."""
        return [item for item in self.items if item.error is None]

    @property
    def refused(self) -> list[NewItem]:
        """Return the items refused at upload."""
        return [item for item in self.items if item.error is not None]


@dataclass(frozen=True)
class Part:
    """One file part of a request: its clean name, the archive kind it holds, its check."""

    upload: UploadFile
    name: str
    kind: str | None
    scan: Scan | None = None
    corrupt: str | None = None


def clean_filename(raw: str | None, position: int) -> str:
    """Return a printable relative name: no control characters, no leading slashes."""
    name = unicodedata.normalize("NFC", raw or "")
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.replace("\\", "/").lstrip("/").strip()
    return name[:MAX_FILENAME] or f"upload-{position}"


def read_upload(upload: UploadFile, limit: int) -> bytes:
    """Read an upload, stopping one byte past the limit so an oversize file is detected."""
    upload.file.seek(0)
    return upload.file.read(limit + 1)


def inspect_part(upload: UploadFile, position: int, limits: ArchiveLimits) -> Part:
    """Sniff a part; check an archive whole, raising if the request must be refused."""
    name = clean_filename(upload.filename, position)
    kind = sniff_archive(read_upload(upload, HEAD_BYTES))
    if kind is None:
        return Part(upload, name, None)
    upload.file.seek(0)
    budget = Budget(name, limits)
    try:
        if kind == ZIP:
            scan = archive_zip.scan_zip(upload.file, budget)
        else:
            scan = archive_tar.scan_tar(upload.file, budget, compressed=kind == TAR_GZ)
    except ArchiveCorruptError as exc:
        return Part(upload, name, kind, corrupt=str(exc))
    except ArchiveRefusedError as exc:
        raise HTTPException(exc.status_code, exc.detail) from exc
    return Part(upload, name, kind, scan)


def archive_entries(part: Part, limits: ArchiveLimits) -> Iterator[Entry]:
    """Yield the files of a checked archive part."""
    file: BinaryIO = part.upload.file
    file.seek(0)
    if part.kind == ZIP:
        yield from archive_zip.read_zip(file, part.name, limits)
    else:
        yield from archive_tar.read_tar(file, part.name, limits)


def take_entry(entry: Entry, intake: Intake, settings: Settings, store: BlobStore) -> None:
    """Sniff one file, store it if it is an image, and record it as an item either way."""
    limit = settings.max_image_bytes
    if entry.data is not None and len(entry.data) > limit:
        entry = Entry(entry.name, entry.size, error=too_large(limit))
    if entry.error is not None or entry.data is None:
        intake.oversized += entry.error == too_large(limit)
        intake.items.append(NewItem(entry.name, "", entry.size, error=entry.error or "no data"))
        return
    try:
        sniff_image(entry.data, max_pixels=settings.max_image_pixels)
    except ImageError as exc:
        digest = content_hash(entry.data)
        intake.items.append(NewItem(entry.name, digest, entry.size, error=str(exc)))
        return
    intake.items.append(NewItem(entry.name, store.put(entry.data), entry.size))


def take_files(files: list[UploadFile], *, settings: Settings, store: BlobStore) -> Intake:
    """Check every part first (archives whole), then store images and record refusals."""
    limits = ArchiveLimits.from_settings(settings)
    parts = [inspect_part(upload, position, limits) for position, upload in enumerate(files)]
    intake = Intake()
    for part in parts:
        if part.corrupt is not None:
            intake.items.append(NewItem(part.name, "", 0, error=part.corrupt))
        elif part.kind is not None and part.scan is not None:
            intake.skipped.extend(part.scan.skipped)
            for entry in archive_entries(part, limits):
                take_entry(entry, intake, settings, store)
        else:
            data = read_upload(part.upload, settings.max_image_bytes)
            take_entry(Entry(part.name, len(data), data=data), intake, settings, store)
    return intake
