"""Tables of resumable uploads: one row per upload, one per chunk received.

Chunks live in blob storage (core.storage), so any gateway instance takes any chunk; these
rows say which chunks arrived and with which SHA-256, so a retry is recognised and a
different body for a chunk already received is refused.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from db.models import DEFAULT_TENANT, Base, utc_now


class UploadStatus(StrEnum):
    """Where an upload is: taking chunks, or assembled into one blob."""

    OPEN = "open"
    COMPLETE = "complete"


class Upload(Base):
    """A file sent in chunks: what the client declared, and the blob once complete."""

    __tablename__ = "uploads"
    __table_args__ = (
        Index("ix_uploads_tenant_status", "tenant", "status"),
        Index("ix_uploads_status_updated", "status", "updated_at"),  # the purge's expiry scan
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant: Mapped[str] = mapped_column(String(64), default=DEFAULT_TENANT)
    filename: Mapped[str] = mapped_column(String(1024))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    chunk_bytes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=UploadStatus.OPEN)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)  # the last chunk taken
    completed_at: Mapped[datetime | None]
    blob_url: Mapped[str | None] = mapped_column(String(2048))


class UploadChunk(Base):
    """One chunk received; the primary key makes a retried chunk a no-op."""

    __tablename__ = "upload_chunks"

    upload_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True
    )
    chunk_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(default=utc_now)
