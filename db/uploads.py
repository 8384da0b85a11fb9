"""Query and write resumable uploads: create, chunks received, complete, expire."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.models import utc_now
from db.upload_models import Upload, UploadChunk, UploadStatus


@dataclass(frozen=True)
class NewUpload:
    """What a client declares about the file it is about to send."""

    filename: str
    size: int
    sha256: str
    chunk_bytes: int


@dataclass(frozen=True)
class CompletedBlob:
    """A completed upload's stored bytes: where they are, their name and size."""

    url: str
    filename: str
    size: int
    sha256: str


def count_open_uploads(*, session: Session, tenant: str) -> int:
    """Return how many uploads the tenant has open."""
    statement = select(func.count()).where(
        Upload.tenant == tenant, Upload.status == UploadStatus.OPEN
    )
    return int(session.scalar(statement) or 0)


def create_upload(new: NewUpload, *, session: Session, tenant: str) -> Upload:
    """Insert an open upload and return it."""
    upload = Upload(
        tenant=tenant,
        filename=new.filename,
        size_bytes=new.size,
        sha256=new.sha256,
        chunk_bytes=new.chunk_bytes,
    )
    session.add(upload)
    session.flush()
    return upload


def get_upload(
    upload_id: uuid.UUID,
    *,
    session: Session,
    tenant: str,
    for_update: bool = False,
    for_share: bool = False,
) -> Upload | None:
    """Return the tenant's upload, or None (another tenant's too); lock it if asked.

    A shared lock lets chunks arrive side by side while completion, abort and the purge,
    which lock it for update, wait for them.
    """
    statement = select(Upload).where(Upload.id == upload_id, Upload.tenant == tenant)
    if for_update or for_share:
        statement = statement.with_for_update(read=not for_update)
    return session.scalars(statement).first()


def received_chunks(upload_id: uuid.UUID, *, session: Session) -> list[tuple[int, str]]:
    """Return (index, sha256) of every chunk received, by index."""
    statement = (
        select(UploadChunk.chunk_index, UploadChunk.sha256)
        .where(UploadChunk.upload_id == upload_id)
        .order_by(UploadChunk.chunk_index)
    )
    return [(index, digest) for index, digest in session.execute(statement)]


def record_chunk(
    upload_id: uuid.UUID, index: int, *, session: Session, size: int, sha256: str
) -> str:
    """Record a chunk unless one is recorded for its index; return the digest that holds."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    row = {"upload_id": upload_id, "chunk_index": index, "size_bytes": size, "sha256": sha256}
    session.execute(
        insert(UploadChunk).values(received_at=utc_now(), **row).on_conflict_do_nothing()
    )
    session.execute(update(Upload).where(Upload.id == upload_id).values(updated_at=utc_now()))
    held = session.scalar(
        select(UploadChunk.sha256).where(
            UploadChunk.upload_id == upload_id, UploadChunk.chunk_index == index
        )
    )
    return str(held)


def reset_chunks(upload: Upload, *, session: Session) -> None:
    """Forget every chunk of an upload, so that it is sent again."""
    session.execute(delete(UploadChunk).where(UploadChunk.upload_id == upload.id))
    upload.updated_at = utc_now()


def mark_complete(upload: Upload, *, session: Session, blob_url: str) -> None:
    """Record that an upload's chunks became the blob at `blob_url`."""
    upload.status = UploadStatus.COMPLETE
    upload.completed_at = utc_now()
    upload.blob_url = blob_url
    session.flush()


def find_stale_completed(*, session: Session, cutoff: datetime, limit: int) -> list[uuid.UUID]:
    """Return completed uploads completed before `cutoff`, oldest first."""
    return _older(UploadStatus.COMPLETE, Upload.completed_at, cutoff, session, limit)


def take_stale_completed(upload_id: uuid.UUID, *, session: Session, cutoff: datetime) -> str | None:
    """Delete a completed upload still past `cutoff` (row locked); return its blob's digest."""
    statement = select(Upload).where(Upload.id == upload_id).with_for_update()
    upload = session.scalars(statement).first()
    if upload is None or upload.status != UploadStatus.COMPLETE or upload.completed_at is None:
        return None
    if upload.completed_at >= cutoff:
        return None
    digest = upload.sha256
    delete_upload(upload_id, session=session)
    return digest


def delete_upload(upload_id: uuid.UUID, *, session: Session) -> None:
    """Delete an upload and its chunk rows."""
    session.execute(delete(UploadChunk).where(UploadChunk.upload_id == upload_id))
    session.execute(delete(Upload).where(Upload.id == upload_id))


def completed_blob(
    *, session: Session, tenant_id: str, upload_id: uuid.UUID
) -> CompletedBlob | None:
    """Return the blob of the tenant's completed upload, or None (open, unknown, others')."""
    upload = get_upload(upload_id, session=session, tenant=tenant_id)
    if upload is None or upload.status != UploadStatus.COMPLETE or upload.blob_url is None:
        return None
    return CompletedBlob(upload.blob_url, upload.filename, upload.size_bytes, upload.sha256)


def find_expired_uploads(*, session: Session, cutoff: datetime, limit: int) -> list[uuid.UUID]:
    """Return open uploads that took no chunk since `cutoff`, oldest first."""
    return _older(UploadStatus.OPEN, Upload.updated_at, cutoff, session, limit)


def _older(
    status: str, since: Any, cutoff: datetime, session: Session, limit: int
) -> list[uuid.UUID]:
    """Return uploads of a status whose `since` column is before `cutoff`, oldest first."""
    statement = (
        select(Upload.id)
        .where(Upload.status == status, since < cutoff)
        .order_by(since)
        .limit(limit)
    )
    return list(session.scalars(statement))


def lock_expired_upload(upload_id: uuid.UUID, *, session: Session, cutoff: datetime) -> bool:
    """Lock an upload and return whether it is still open and idle since before `cutoff`."""
    statement = select(Upload).where(Upload.id == upload_id).with_for_update()
    upload = session.scalars(statement).first()
    return upload is not None and upload.status == UploadStatus.OPEN and upload.updated_at < cutoff
