"""Worker side of slide blocks: claim one under a lease, record its probabilities once,
finish the slide when its last block is in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from sqlalchemy import ColumnElement, and_, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.model_card import ModelCard
from core.slide_call import call_slide
from db.models import Item, ItemStatus, Result, utc_now
from db.slide_tables import Slide, SlideBlock, SlideStatus
from db.slides import fail_slide, read_slide_tiles
from db.webhook_events import record_final_events


@dataclass(frozen=True)
class ClaimedBlock:
    """A block this worker holds: which tiles, read from which slide and how."""

    slide_id: uuid.UUID
    index: int
    job_id: uuid.UUID
    source: str
    level: int
    read_size: int
    corners: np.ndarray  # (n, 2) int32, level-0 pixels
    attempts: int


def _claimable(now: object) -> object:
    return or_(
        SlideBlock.status == SlideStatus.QUEUED,
        and_(SlideBlock.status == SlideStatus.RUNNING, SlideBlock.lease_expires_at < now),
    )


def claim_block(
    *, session: Session, worker_id: str, lease_seconds: int, max_attempts: int
) -> ClaimedBlock | None:
    """Take the oldest queued (or lease-expired) block of any slide; None when none waits.

    Rows another worker is claiming are skipped, not waited for (PostgreSQL).
    """
    now = utc_now()
    candidate = (
        select(SlideBlock.slide_id, SlideBlock.index)
        .where(_claimable(now), SlideBlock.attempts < max_attempts)  # type: ignore[arg-type]
        .order_by(SlideBlock.created_at, SlideBlock.index)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    key = session.execute(candidate).first()
    if key is None:
        return None
    taken = session.execute(
        update(SlideBlock)
        .where(tuple_(SlideBlock.slide_id, SlideBlock.index) == tuple(key), _claimable(now))  # type: ignore[arg-type]
        .values(
            status=SlideStatus.RUNNING,
            attempts=SlideBlock.attempts + 1,
            worker_id=worker_id,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
        )
        .returning(SlideBlock.n_tiles, SlideBlock.corners, SlideBlock.attempts, SlideBlock.job_id)
    ).first()
    if taken is None:
        return None
    slide = session.get(Slide, key[0])
    assert slide is not None and slide.level is not None and slide.read_size is not None
    corners = np.frombuffer(taken.corners, dtype="<i4").reshape(-1, 2)
    return ClaimedBlock(
        key[0], key[1], taken.job_id, slide.source, slide.level, slide.read_size, corners,
        taken.attempts,
    )  # fmt: skip


def held_by(block: ClaimedBlock, worker_id: str) -> tuple[ColumnElement[bool], ...]:
    """The conditions under which a block is still this worker's to renew, record or hand
    back: running, and not taken over by another worker since its claim."""
    return (
        SlideBlock.slide_id == block.slide_id,
        SlideBlock.index == block.index,
        SlideBlock.status == SlideStatus.RUNNING,
        SlideBlock.worker_id == worker_id,
    )


def renew_block(
    block: ClaimedBlock, *, session: Session, worker_id: str, lease_seconds: int
) -> bool:
    """Start a block's lease again as its model run starts; return whether it is still ours.

    A runner claims the next block while the model runs the current one: without this, the
    lease would have to outlast both blocks, and a block whose lease lapsed while it waited
    (another worker took it over) would be run for nothing.
    """
    renewed = session.execute(
        update(SlideBlock)
        .where(*held_by(block, worker_id))
        .values(lease_expires_at=utc_now() + timedelta(seconds=lease_seconds))
    )
    return bool(renewed.rowcount)  # type: ignore[attr-defined]


def record_block(
    block: ClaimedBlock, probabilities: np.ndarray, *, session: Session, worker_id: str
) -> tuple[bool, bool]:
    """Store a block's probabilities once; return (recorded, completed its slide)."""
    now = utc_now()
    recorded = session.execute(
        update(SlideBlock)
        .where(*held_by(block, worker_id))
        .values(
            status=SlideStatus.SUCCEEDED,
            probabilities=np.ascontiguousarray(probabilities, dtype="<f2").tobytes(),
            finished_at=now,
            lease_expires_at=None,
        )
    )
    if not recorded.rowcount:  # type: ignore[attr-defined]
        return False, False  # another worker took it over, or the slide was cancelled
    counts = session.execute(
        update(Slide)
        .where(Slide.id == block.slide_id)
        .values(blocks_done=Slide.blocks_done + 1)
        .returning(Slide.blocks_done, Slide.n_blocks)
    ).one()
    return True, bool(counts.blocks_done == counts.n_blocks)


def release_block(block: ClaimedBlock, *, session: Session, worker_id: str) -> None:
    """Hand a block back to the queue without spending an attempt (shutdown)."""
    session.execute(
        update(SlideBlock)
        .where(*held_by(block, worker_id))
        .values(status=SlideStatus.QUEUED, attempts=SlideBlock.attempts - 1, worker_id=None)
    )


def finish_slide(
    slide_id: uuid.UUID, card: ModelCard, model_id: int | None, *, session: Session, worker_id: str
) -> None:
    """Call a slide whose blocks are all in, write its item's result, record job events."""
    slide = session.get(Slide, slide_id)
    if slide is None or slide.status != SlideStatus.RUNNING:
        return
    _, probabilities = read_slide_tiles(slide_id, len(card.class_names), session=session)
    tile_um = slide.tile_size0 * slide.mpp if slide.mpp and slide.tile_size0 else None
    call = call_slide(probabilities, card, tile_um**2 if tile_um else None)
    now = utc_now()
    slide.status, slide.finished_at, slide.model_id = SlideStatus.SUCCEEDED, now, model_id
    slide.call, slide.positive_tiles = call.label, call.positive_tiles
    slide.positive_area_mm2 = call.positive_area_mm2
    label = call.label or card.class_names[0]
    elapsed_ms = (now - slide.created_at).total_seconds() * 1000.0
    row = {
        "item_id": slide_id, "job_id": slide.job_id, "label": label,
        "probability": call.mean_scores[label], "scores": call.mean_scores,
        "model_name": card.name, "model_version": card.version, "model_id": model_id,
        "queue_ms": 0.0, "inference_ms": elapsed_ms, "total_ms": elapsed_ms,
        "worker_id": worker_id, "created_at": now, "warnings": [],
    }  # fmt: skip
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(Result).on_conflict_do_nothing(index_elements=["item_id"]), [row])
    session.execute(
        update(Item)
        .where(Item.id == slide_id, Item.status == ItemStatus.RUNNING)
        .values(status=ItemStatus.SUCCEEDED, finished_at=now, error=None)
    )
    record_final_events([slide.job_id], session=session)


def sweep_slides(
    *, session: Session, stale_seconds: int, max_attempts: int
) -> tuple[list[uuid.UUID], int]:
    """Fail slides whose blocks ran out of attempts; return (slides to tile again, blocks
    waiting to run) for the sweeper to republish."""
    now = utc_now()
    exhausted = select(SlideBlock.slide_id).where(
        SlideBlock.status == SlideStatus.RUNNING,
        SlideBlock.lease_expires_at < now,
        SlideBlock.attempts >= max_attempts,
    )
    for slide_id in set(session.scalars(exhausted)):
        reason = f"gave up after {max_attempts} attempts: a block's worker was lost or timed out"
        fail_slide(slide_id, reason, session=session)
    stale = now - timedelta(seconds=stale_seconds)
    retile = select(Slide.id).where(
        or_(
            and_(Slide.status == SlideStatus.QUEUED, Slide.created_at < stale),
            and_(Slide.status == SlideStatus.TILING, Slide.lease_expires_at < now),
        )
    )
    waiting = select(func.count()).where(_claimable(now))  # type: ignore[arg-type]
    return list(session.scalars(retile)), int(session.scalar(waiting) or 0)
