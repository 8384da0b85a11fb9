"""Turn uploaded files into stored blobs and job items; refuse what is not an image."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from fastapi import UploadFile

from core.preprocessing import ImageError, sniff_image
from core.settings import Settings
from core.storage import BlobStore, content_hash
from db.jobs import NewItem

MAX_FILENAME = 1024


@dataclass
class Intake:
    """What a request brought: items to insert (refused ones included, marked failed)."""

    items: list[NewItem] = field(default_factory=list)
    oversized: int = 0

    @property
    def accepted(self) -> list[NewItem]:
        """Return the items that will be queued."""
        return [item for item in self.items if item.error is None]

    @property
    def refused(self) -> list[NewItem]:
        """Return the items refused at upload."""
        return [item for item in self.items if item.error is not None]


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


def take_files(files: list[UploadFile], *, settings: Settings, store: BlobStore) -> Intake:
    """Sniff each file, store the images by content hash, and record refusals with reasons."""
    intake = Intake()
    for position, upload in enumerate(files):
        name = clean_filename(upload.filename, position)
        data = read_upload(upload, settings.max_image_bytes)
        if len(data) > settings.max_image_bytes:
            intake.oversized += 1
            reason = f"file is larger than the {settings.max_image_bytes}-byte limit"
            intake.items.append(NewItem(name, "", len(data), error=reason))
            continue
        try:
            sniff_image(data, max_pixels=settings.max_image_pixels)
        except ImageError as exc:
            intake.items.append(NewItem(name, content_hash(data), len(data), error=str(exc)))
            continue
        intake.items.append(NewItem(name, store.put(data), len(data)))
    return intake
