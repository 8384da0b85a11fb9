"""Slides and their tile blocks: create, claim under a lease, record once, finish, read back.

Blocks are claimed and recorded like items (db.claims): every write is guarded by the
block's status and worker, so a redelivered task or a second worker never records a block
twice, and a killed worker's blocks are claimed again once their lease expires.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from db.models import Item, ItemStatus, Job, utc_now
from db.slide_tables import Slide, SlideBlock, SlideStatus
from db.webhook_events import record_final_events

if TYPE_CHECKING:  # numpy loads with the first tile array, not with the gateway's start
    import numpy as np

ACTIVE = (SlideStatus.QUEUED, SlideStatus.TILING, SlideStatus.RUNNING)


@dataclass(frozen=True)
class NewSlide:
    """A slide a job names: where it is, and what the lab says about it."""

    source: str
    filename: str
    patient_id: str | None = None
    slide_id: str | None = None
    content_hash: str | None = None  # the blob's digest when the slide was uploaded


def add_slides(job: Job, slides: list[NewSlide], *, session: Session) -> list[uuid.UUID]:
    """Add a slide row and its item (running: the slide's blocks are its work) to a job."""
    now = utc_now()
    ids = [uuid.uuid4() for _ in slides]
    items = [
        {
            "id": slide_id,
            "job_id": job.id,
            "tenant": job.tenant,
            "position": index,
            "filename": new.filename,
            "content_hash": new.content_hash or hashlib.sha256(new.source.encode()).hexdigest(),
            "size_bytes": 0,
            "status": ItemStatus.RUNNING,  # no lease: never claimed or swept as an image
            "attempts": 0,
            "created_at": now,
            "published_at": now,
            "patient_id": new.patient_id,
            "slide_id": new.slide_id,
        }
        for index, (slide_id, new) in enumerate(zip(ids, slides, strict=True))
    ]
    rows = [
        {"id": slide_id, "job_id": job.id, "tenant": job.tenant, "source": new.source,
         "status": SlideStatus.QUEUED, "attempts": 0, "created_at": now, "blocks_done": 0}
        for slide_id, new in zip(ids, slides, strict=True)
    ]  # fmt: skip
    if items:
        session.execute(insert(Item), items)
        session.execute(insert(Slide), rows)
    return ids


def claim_slide(
    slide_id: uuid.UUID, *, session: Session, worker_id: str, lease_seconds: int, max_attempts: int
) -> Slide | None:
    """Take a queued (or lease-expired) slide for tiling; None when it is not to be tiled."""
    now = utc_now()
    claimable = or_(
        Slide.status == SlideStatus.QUEUED,
        and_(Slide.status == SlideStatus.TILING, Slide.lease_expires_at < now),
    )
    taken = session.execute(
        update(Slide)
        .where(Slide.id == slide_id, claimable, Slide.attempts < max_attempts)
        .values(
            status=SlideStatus.TILING,
            attempts=Slide.attempts + 1,
            worker_id=worker_id,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
        )
        .returning(Slide.id)
    ).first()
    return session.get(Slide, slide_id, populate_existing=True) if taken else None


def held_slide(slide_id: uuid.UUID, *, session: Session, worker_id: str) -> Slide | None:
    """Return the slide, locked, if this worker still holds it for tiling."""
    statement = (
        select(Slide)
        .where(Slide.id == slide_id, Slide.status == SlideStatus.TILING)
        .where(Slide.worker_id == worker_id)
        .with_for_update()
    )
    return session.scalars(statement).first()


@dataclass(frozen=True)
class Tiling:
    """How a slide was tiled: its size, pixel size, tile geometry, thumbnail and tissue."""

    width: int
    height: int
    mpp: float | None
    tile_size0: int
    level: int
    read_size: int
    thumbnail_hash: str
    tissue_area_mm2: float | None


def store_tiling(
    slide: Slide, tiling: Tiling, corners: np.ndarray, block_tiles: int, *, session: Session
) -> int:
    """Record a slide's tiling and its blocks of `block_tiles` tiles; return the blocks."""
    import numpy as np

    blocks = [corners[start : start + block_tiles] for start in range(0, len(corners), block_tiles)]
    now = utc_now()
    rows = [
        {"slide_id": slide.id, "index": index, "job_id": slide.job_id, "n_tiles": len(block),
         "corners": np.ascontiguousarray(block, dtype="<i4").tobytes(),
         "status": SlideStatus.QUEUED, "attempts": 0, "created_at": now}
        for index, block in enumerate(blocks)
    ]  # fmt: skip
    # A slide tiled again (its first tiler was lost) gets the same blocks afresh.
    session.execute(delete(SlideBlock).where(SlideBlock.slide_id == slide.id))
    for start in range(0, len(rows), 500):
        session.execute(insert(SlideBlock), rows[start : start + 500])
    session.execute(
        update(Slide)
        .where(Slide.id == slide.id)
        .values(
            status=SlideStatus.RUNNING,
            lease_expires_at=None,
            tiled_at=now,
            n_tiles=len(corners),
            n_blocks=len(rows),
            blocks_done=0,
            **vars(tiling),
        )
    )
    return len(rows)


def fail_slide(slide_id: uuid.UUID, reason: str, *, session: Session) -> None:
    """Fail a slide, its item and its unfinished blocks with a reason; record job events."""
    now = utc_now()
    session.execute(
        update(Slide)
        .where(Slide.id == slide_id, Slide.status.in_(ACTIVE))
        .values(status=SlideStatus.FAILED, error=reason[:2000], finished_at=now)
    )
    session.execute(
        update(SlideBlock)
        .where(SlideBlock.slide_id == slide_id, SlideBlock.status != SlideStatus.SUCCEEDED)
        .values(status=SlideStatus.CANCELLED, lease_expires_at=None)
    )
    job_id = session.scalar(
        update(Item)
        .where(Item.id == slide_id, Item.status == ItemStatus.RUNNING)
        .values(status=ItemStatus.FAILED, error=reason[:2000], finished_at=now)
        .returning(Item.job_id)
    )
    if job_id is not None:
        record_final_events([job_id], session=session)


def cancel_slides(job_id: uuid.UUID, *, session: Session) -> int:
    """Cancel a job's unfinished slides and their blocks; return how many were cancelled."""
    now = utc_now()
    active = select(Slide.id).where(Slide.job_id == job_id, Slide.status.in_(ACTIVE))
    ids = list(session.scalars(active))
    if not ids:
        return 0
    session.execute(
        update(Slide)
        .where(Slide.id.in_(ids), Slide.status.in_(ACTIVE))
        .values(status=SlideStatus.CANCELLED, error="cancelled", finished_at=now)
    )
    session.execute(
        update(SlideBlock)
        .where(SlideBlock.slide_id.in_(ids), SlideBlock.status != SlideStatus.SUCCEEDED)
        .values(status=SlideStatus.CANCELLED, lease_expires_at=None)
    )
    session.execute(
        update(Item)
        .where(Item.id.in_(ids), Item.status == ItemStatus.RUNNING)
        .values(status=ItemStatus.CANCELLED, error="cancelled", finished_at=now)
    )
    return len(ids)


def slide_rows(job_id: uuid.UUID, *, session: Session) -> list[Slide]:
    """Return a job's slides in submission order."""
    statement = (
        select(Slide).join(Item, Item.id == Slide.id).where(Slide.job_id == job_id)
        .order_by(Item.position)
    )  # fmt: skip
    return list(session.scalars(statement))


def decode_block(row: Any, n_classes: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Return a block's corners (n, 2) and probabilities (n, classes), None before it ran."""
    import numpy as np

    corners = np.frombuffer(row.corners, dtype="<i4").reshape(-1, 2)
    if row.probabilities is None:
        return corners, None
    probabilities = np.frombuffer(row.probabilities, dtype="<f2").reshape(-1, n_classes)
    return corners, probabilities.astype(np.float32)


def read_slide_tiles(
    slide_id: uuid.UUID, n_classes: int, *, session: Session
) -> tuple[np.ndarray, np.ndarray]:
    """Return every recorded tile of a slide: corners (n, 2) and probabilities (n, classes)."""
    import numpy as np

    statement = (
        select(SlideBlock.corners, SlideBlock.probabilities)
        .where(SlideBlock.slide_id == slide_id, SlideBlock.status == SlideStatus.SUCCEEDED)
        .order_by(SlideBlock.index)
    )
    corners, probabilities = [np.zeros((0, 2), np.int32)], [np.zeros((0, n_classes), np.float32)]
    for row in session.execute(statement):
        block_corners, block_probabilities = decode_block(row, n_classes)
        if block_probabilities is not None:
            corners.append(block_corners)
            probabilities.append(block_probabilities)
    return np.concatenate(corners), np.concatenate(probabilities)


# A job's slides and their tiles, planned and recorded (db.loop_sql runs them too).
SLIDE_TOTALS = select(func.count(Slide.id), func.coalesce(func.sum(Slide.n_tiles), 0)).where(
    Slide.job_id == bindparam("job_id")
)
TILES_DONE = (
    select(func.coalesce(func.sum(SlideBlock.n_tiles), 0))
    .join(Slide, Slide.id == SlideBlock.slide_id)
    .where(Slide.job_id == bindparam("job_id"), SlideBlock.status == SlideStatus.SUCCEEDED)
)
SlideCounts = tuple[int, int, int]  # slides, tiles planned, tiles recorded


def slide_progress(job_id: uuid.UUID, *, session: Session) -> SlideCounts | None:
    """Return a job's (slides, tiles planned, tiles recorded), or None when it has no slides."""
    slides, planned = session.execute(SLIDE_TOTALS, {"job_id": job_id}).one()
    if not slides:
        return None
    return progress_of(slides, planned, session.scalar(TILES_DONE, {"job_id": job_id}))


def progress_of(slides: int | None, planned: int | None, done: int | None) -> SlideCounts | None:
    """Return a job's slide progress from its counts, or None when it has no slides."""
    return (int(slides), int(planned or 0), int(done or 0)) if slides else None
