"""Turn uploaded files and archives into stored blobs and job items; refuse non-images."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from fastapi import UploadFile

from core.file_kinds import HEAD_BYTES, TAR_GZ, ZIP, sniff_archive
from core.settings import Settings
from core.storage import BlobStore, content_hash
from db.jobs import NewItem
from gateway.intake import archive_tar, archive_zip
from gateway.intake.archives import ArchiveCorruptError, Entry, Scan, too_large
from gateway.intake.budget import RequestBudget
from gateway.intake.names import clean_filename


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


def read_upload(upload: UploadFile, limit: int) -> bytes:
    """Read an upload, stopping one byte past the limit so an oversize file is detected."""
    upload.file.seek(0)
    return upload.file.read(limit + 1)


def scan_archive(upload: UploadFile, name: str, kind: str, budget: RequestBudget) -> Scan:
    """Check an archive part whole against the request's budget."""
    if kind == ZIP:
        return archive_zip.scan_zip(upload.file, budget, name)
    return archive_tar.scan_tar(upload.file, budget, name, compressed=kind == TAR_GZ)


def inspect_part(upload: UploadFile, position: int, budget: RequestBudget) -> Part:
    """Sniff a part and charge its size; check an archive whole, raising if it is refused."""
    name = clean_filename(upload.filename, position)
    budget.receive(name, upload.file.seek(0, 2))
    kind = sniff_archive(read_upload(upload, HEAD_BYTES))
    if kind is None:
        return Part(upload, name, None)
    try:
        return Part(upload, name, kind, scan_archive(upload, name, kind, budget))
    except ArchiveCorruptError as exc:
        return Part(upload, name, kind, corrupt=str(exc))


def archive_entries(part: Part, budget: RequestBudget) -> Iterator[Entry]:
    """Yield the files of a checked archive part."""
    if part.kind == ZIP:
        yield from archive_zip.read_zip(part.upload.file, part.name, budget)
    else:
        yield from archive_tar.read_tar(part.upload.file, part.name, budget)


def take_entry(entry: Entry, intake: Intake, settings: Settings, store: BlobStore) -> None:
    """Sniff one file, store it if it is an image, and record it as an item either way."""
    # Pillow and numpy load with the first image, not at the gateway's start.
    from core.preprocessing import ImageError, sniff_image

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


def take_files(
    files: list[UploadFile], budget: RequestBudget, *, settings: Settings, store: BlobStore
) -> Intake:
    """Check every part first (archives whole), then store images and record refusals."""
    parts = [inspect_part(upload, position, budget) for position, upload in enumerate(files)]
    intake = Intake()
    for part in parts:
        if part.corrupt is not None:
            intake.items.append(NewItem(part.name, "", 0, error=part.corrupt))
        elif part.kind is not None and part.scan is not None:
            intake.skipped.extend(part.scan.skipped)
            for entry in archive_entries(part, budget):
                take_entry(entry, intake, settings, store)
        else:
            data = read_upload(part.upload, settings.max_image_bytes)
            take_entry(Entry(part.name, len(data), data=data), intake, settings, store)
    return intake
