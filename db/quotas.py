"""What backpressure reads and counts: a tenant's requests a minute, its unfinished jobs,
and the service-wide queue."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, exists, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.models import Item, ItemStatus, Job, RateWindow, utc_now

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class RequestCount:
    """How many requests a tenant has made in the current minute, and when it ends."""

    requests: int
    seconds_left: int


def count_request(tenant: str, *, session: Session, now: datetime | None = None) -> RequestCount:
    """Count one request of a tenant in its current one-minute window.

    One atomic upsert per request, so every gateway instance shares the count.
    """
    epoch = (now or utc_now()).timestamp()
    window = int(epoch // WINDOW_SECONDS)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(RateWindow)
        .values(tenant=tenant, window=window, requests=1)
        .on_conflict_do_update(
            index_elements=["tenant", "window"],
            set_={"requests": RateWindow.requests + 1},
        )
        .returning(RateWindow.requests)
    )
    requests = int(session.execute(statement).scalar_one())
    if requests == 1:  # the first request of a window clears the tenant's older windows
        session.execute(
            delete(RateWindow).where(RateWindow.tenant == tenant, RateWindow.window < window)
        )
    seconds_left = math.ceil((window + 1) * WINDOW_SECONDS - epoch)
    return RequestCount(requests, max(1, seconds_left))


def count_active_jobs(tenant: str, *, session: Session) -> int:
    """Return how many of a tenant's jobs are unfinished: open, or with items still to run."""
    pending = exists().where(
        Item.job_id == Job.id, Item.status.in_([ItemStatus.QUEUED, ItemStatus.RUNNING])
    )  # correlated, so it probes ix_items_job_status per job of this tenant only
    statement = (
        select(func.count())
        .select_from(Job)
        .where(Job.tenant == tenant, or_(Job.closed_at.is_(None), pending))
    )
    return int(session.scalar(statement) or 0)


def count_queued(*, session: Session) -> int:
    """Return how many items wait for a worker, service-wide."""
    statement = select(func.count()).select_from(Item).where(Item.status == ItemStatus.QUEUED)
    return int(session.scalar(statement) or 0)
