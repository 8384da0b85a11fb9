"""The purge's database side: find jobs past their retention, what they share, delete rows.

Each function does one bounded step in the caller's session, so the caller commits often
and no transaction holds many rows; worker/purge.py drives the steps and the blob deletes.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, or_, select, text, union, update
from sqlalchemy.orm import Session

from db.models import IdempotencyKey, Item, ItemStatus, Job, ManifestEntry, Result, utc_now
from db.session import get_session
from db.slide_tables import Slide
from db.upload_models import Upload, UploadStatus

# Any constant works: it names the one purge that may run at a time on a PostgreSQL database.
_PURGE_LOCK_KEY = 0x1F0E_0017


@dataclass(frozen=True)
class Scope:
    """The jobs one retention applies to: of these tenants, or of every tenant but these."""

    tenants: frozenset[str]
    inclusive: bool

    def clause(self) -> Any:
        """Return the SQL condition on a job's tenant."""
        if self.inclusive:
            return Job.tenant.in_(sorted(self.tenants))
        return Job.tenant.not_in(sorted(self.tenants))

    def holds(self, tenant: str) -> bool:
        """Return whether a tenant's jobs fall in this scope."""
        return (tenant in self.tenants) == self.inclusive


@dataclass(frozen=True)
class FinalJob:
    """A job that reached a final status, and when."""

    id: uuid.UUID
    tenant: str
    final_at: datetime


@contextmanager
def purge_lock(url: str) -> Iterator[bool]:
    """Hold the service-wide purge lock while the block runs; yield whether it was free.

    On PostgreSQL a transaction-scoped advisory lock, so two workers' purges never decide
    about the same shared blob at once; SQLite serves one machine and needs none.
    """
    if not url.startswith("postgresql"):
        yield True
        return
    with get_session(url) as session:
        statement = text("SELECT pg_try_advisory_xact_lock(:key)")
        yield bool(session.scalar(statement, {"key": _PURGE_LOCK_KEY}))


def find_images_expired(
    *, session: Session, cutoff: datetime, scope: Scope, limit: int | None
) -> list[FinalJob]:
    """Return final jobs whose images are kept and whose final status came before cutoff."""
    active = func.sum(case((Item.status.in_([ItemStatus.QUEUED, ItemStatus.RUNNING]), 1), else_=0))
    last = func.max(Item.finished_at)
    statement = (
        select(Job.id, Job.tenant, Job.closed_at, last)
        .outerjoin(Item, Item.job_id == Job.id)
        .where(
            Job.closed_at.is_not(None),
            Job.closed_at < cutoff,
            Job.images_purged_at.is_(None),
            scope.clause(),
        )
        .group_by(Job.id, Job.tenant, Job.closed_at)
        .having(func.coalesce(active, 0) == 0, or_(last.is_(None), last < cutoff))
        .order_by(Job.closed_at, Job.id)
        .limit(limit)
    )
    found = []
    for job_id, tenant, closed_at, finished_at in session.execute(statement):
        assert closed_at is not None  # the query asks for closed jobs
        found.append(FinalJob(job_id, tenant, max(closed_at, finished_at or closed_at)))
    return found


def job_hashes(job_id: uuid.UUID, *, session: Session, after: str, limit: int) -> list[str]:
    """Return the job's next blob digests after `after`, in order: its items' images (refused
    items have none) and its slides' thumbnails, which show the patient's tissue too."""
    images = select(Item.content_hash.label("digest")).where(Item.job_id == job_id)
    thumbnails = select(Slide.thumbnail_hash.label("digest")).where(
        Slide.job_id == job_id, Slide.thumbnail_hash.is_not(None)
    )
    digests = union(images, thumbnails).subquery()
    statement = (
        select(digests.c.digest)
        .where(digests.c.digest > after)
        .order_by(digests.c.digest)
        .limit(limit)
    )
    return list(session.scalars(statement))


def held_elsewhere(
    digests: list[str], *, session: Session, released: Collection[uuid.UUID]
) -> set[str]:
    """Return the digests an item or slide thumbnail of a job whose images are kept, or an
    upload, still holds.

    `released` are jobs this purge already let go of (marked, or in a dry run, about to be).
    """
    if not digests:
        return set()
    statement = (
        select(Item.content_hash, Item.job_id)
        .join(Job, Job.id == Item.job_id)
        .where(Item.content_hash.in_(digests), Job.images_purged_at.is_(None))
        .distinct()
    )
    thumbnails = (
        select(Slide.thumbnail_hash, Slide.job_id)
        .join(Job, Job.id == Slide.job_id)
        .where(Slide.thumbnail_hash.in_(digests), Job.images_purged_at.is_(None))
    )
    held: set[str] = {
        str(digest)
        for query in (statement, thumbnails)
        for digest, job_id in session.execute(query)
        if job_id not in released
    }
    uploaded = select(Upload.sha256).where(
        Upload.sha256.in_(digests), Upload.status == UploadStatus.COMPLETE
    )
    return held | set(session.scalars(uploaded))


def mark_images_purged(job: FinalJob, *, session: Session) -> None:
    """Record that a final job's images are gone, and when it became final."""
    session.execute(
        update(Job)
        .where(Job.id == job.id)
        .values(final_at=job.final_at, images_purged_at=utc_now())
        .execution_options(synchronize_session=False)
    )


def find_rows_expired(
    *, session: Session, cutoff: datetime, scope: Scope, limit: int | None
) -> list[uuid.UUID]:
    """Return jobs whose images are gone and whose final status came before cutoff."""
    statement = (
        select(Job.id)
        .where(Job.images_purged_at.is_not(None), Job.final_at < cutoff, scope.clause())
        .order_by(Job.final_at, Job.id)
        .limit(limit)
    )
    return list(session.scalars(statement))


def count_items(job_ids: list[uuid.UUID], *, session: Session) -> int:
    """Return how many items these jobs hold."""
    if not job_ids:
        return 0
    statement = select(func.count()).select_from(Item).where(Item.job_id.in_(job_ids))
    return int(session.scalar(statement) or 0)


def delete_some_rows(job_id: uuid.UUID, *, session: Session, limit: int) -> int:
    """Delete up to `limit` rows of a job, children first, the job last; return how many.

    0 means the job is gone: call again until then, committing between calls.
    """
    children: list[tuple[Any, Any, Any]] = [
        (Result, Result.item_id, Result.job_id),
        (Item, Item.id, Item.job_id),
        (ManifestEntry, ManifestEntry.filename, ManifestEntry.job_id),
        (IdempotencyKey, IdempotencyKey.key, IdempotencyKey.job_id),
    ]
    for table, key, owner in children:
        some = select(key).where(owner == job_id).limit(limit)
        statement = delete(table).where(owner == job_id, key.in_(some))
        deleted = int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]
        if deleted:
            return deleted
    statement = delete(Job).where(Job.id == job_id)
    return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]
