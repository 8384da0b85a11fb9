"""Build the public view of an upload from its row and its chunks."""

from __future__ import annotations

import uuid
from datetime import timedelta

from core.settings import Settings
from core.upload_schemas import UploadLinks, UploadPublic, chunk_count
from db.upload_models import Upload, UploadStatus


def upload_links(upload_id: uuid.UUID) -> UploadLinks:
    """Return where an upload's status, chunks and completion live."""
    base = f"/v1/uploads/{upload_id}"
    return UploadLinks(self=base, chunks=f"{base}/chunks/{{index}}", complete=f"{base}/complete")


def upload_view(upload: Upload, received: list[int], settings: Settings) -> UploadPublic:
    """Return what the API says about an upload."""
    is_open = upload.status == UploadStatus.OPEN
    expiry = timedelta(hours=settings.upload_expiry_hours)
    return UploadPublic(
        id=upload.id,
        filename=upload.filename,
        size=upload.size_bytes,
        sha256=upload.sha256,
        status=upload.status,
        chunk_size=upload.chunk_bytes,
        chunk_count=chunk_count(upload.size_bytes, upload.chunk_bytes),
        received=received,
        created_at=upload.created_at,
        expires_at=upload.updated_at + expiry if is_open else None,
        completed_at=upload.completed_at,
        blob=None if is_open else upload.sha256,
        links=upload_links(upload.id),
    )
