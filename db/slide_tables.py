"""Tables of whole-slide images: a slide per submitted slide, its tiles in blocks.

Per-tile state is kept compact: one claimable row per block of a few hundred tiles, with
the tiles' level-0 corners and, once run, their class probabilities as packed arrays
(int32 and float16, row-major). Slide-level figures (call, positive area) are columns of
the slide row. A 50,000-tile slide is about 200 block rows, not 50,000 item rows.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Float, ForeignKey, Index, Integer, LargeBinary, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from db.models import DEFAULT_TENANT, Base, utc_now


class SlideStatus(StrEnum):
    """Where a slide is: waiting to be tiled, its blocks running, or done."""

    QUEUED = "queued"
    TILING = "tiling"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Slide(Base):
    """One whole-slide image of a job; its item (same ID) carries its status for the job."""

    __tablename__ = "slides"
    __table_args__ = (Index("ix_slides_status_lease", "status", "lease_expires_at"),)

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    tenant: Mapped[str] = mapped_column(String(64), default=DEFAULT_TENANT)
    source: Mapped[str] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(16), default=SlideStatus.QUEUED)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    tiled_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    mpp: Mapped[float | None] = mapped_column(Float)
    tile_size0: Mapped[int | None] = mapped_column(Integer)  # tile side, level-0 pixels
    level: Mapped[int | None] = mapped_column(Integer)
    read_size: Mapped[int | None] = mapped_column(Integer)
    thumbnail_hash: Mapped[str | None] = mapped_column(String(64))  # PNG blob
    n_tiles: Mapped[int | None] = mapped_column(Integer)
    n_blocks: Mapped[int | None] = mapped_column(Integer)
    blocks_done: Mapped[int] = mapped_column(Integer, default=0)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"))
    call: Mapped[str | None] = mapped_column(String(255))
    positive_tiles: Mapped[int | None] = mapped_column(Integer)
    positive_area_mm2: Mapped[float | None] = mapped_column(Float)
    tissue_area_mm2: Mapped[float | None] = mapped_column(Float)


class SlideBlock(Base):
    """A few hundred tiles of a slide, claimed, run and recorded together."""

    __tablename__ = "slide_blocks"
    __table_args__ = (
        Index(
            "ix_slide_blocks_claimable",
            "created_at",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
        Index("ix_slide_blocks_status_lease", "status", "lease_expires_at"),
    )

    slide_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("slides.id", ondelete="CASCADE"), primary_key=True
    )
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    n_tiles: Mapped[int] = mapped_column(Integer)
    corners: Mapped[bytes] = mapped_column(LargeBinary)  # int32 (n, 2): x, y at level 0
    probabilities: Mapped[bytes | None] = mapped_column(LargeBinary)  # float16 (n, classes)
    status: Mapped[str] = mapped_column(String(16), default=SlideStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    finished_at: Mapped[datetime | None]
