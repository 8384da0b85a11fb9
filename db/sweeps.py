"""The sweeper's database side: find items to republish and fail items out of attempts."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from db.models import Item, ItemStatus, utc_now
from db.webhook_events import record_final_events


def fail_exhausted(*, session: Session, max_attempts: int) -> int:
    """Fail items whose lease expired after their last allowed attempt; record the webhook
    events of the jobs this made final."""
    now = utc_now()
    result = session.execute(
        update(Item)
        .where(
            Item.status == ItemStatus.RUNNING,
            Item.lease_expires_at < now,
            Item.attempts >= max_attempts,
        )
        .values(
            status=ItemStatus.FAILED,
            finished_at=now,
            error=f"gave up after {max_attempts} attempts: the worker was lost or timed out",
        )
        .returning(Item.job_id)
        .execution_options(synchronize_session=False)
    )
    job_ids = list(result.scalars())
    record_final_events(job_ids, session=session)
    return len(job_ids)


def find_stalled(
    *, session: Session, stale_queued_seconds: int, limit: int = 10_000
) -> list[uuid.UUID]:
    """Return queued items not published recently and running items whose lease expired."""
    now = utc_now()
    stale = now - timedelta(seconds=stale_queued_seconds)
    queued = and_(
        Item.status == ItemStatus.QUEUED,
        or_(Item.published_at.is_(None), Item.published_at < stale),
    )
    expired = and_(
        Item.status == ItemStatus.RUNNING,
        Item.lease_expires_at < now,
        or_(Item.published_at.is_(None), Item.published_at < stale),
    )
    statement = select(Item.id).where(or_(queued, expired)).order_by(Item.created_at).limit(limit)
    return list(session.scalars(statement).all())


def queued_since(before: datetime, *, session: Session) -> bool:
    """Whether an item submitted before `before` is still queued."""
    statement = select(Item.id).where(Item.status == ItemStatus.QUEUED, Item.created_at < before)
    return session.scalar(statement.limit(1)) is not None


def claimed_before(item_ids: list[uuid.UUID], *, session: Session) -> set[uuid.UUID]:
    """Return which of the items a worker already claimed once without finishing them."""
    if not item_ids:
        return set()
    statement = select(Item.id).where(Item.id.in_(item_ids), Item.attempts > 0)
    return set(session.scalars(statement).all())


def by_priority(item_ids: list[uuid.UUID], *, session: Session) -> dict[int, list[uuid.UUID]]:
    """Group items by their priority rank (core.priority), each group oldest first."""
    groups: dict[int, list[uuid.UUID]] = {}
    if not item_ids:
        return groups
    statement = (
        select(Item.priority, Item.id).where(Item.id.in_(item_ids)).order_by(Item.created_at)
    )
    for rank, item_id in session.execute(statement):
        groups.setdefault(rank, []).append(item_id)
    return groups
