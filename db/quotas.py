"""What admission reads and counts: requests a tenant made this minute, unfinished work.

Both are read in bulk, at most once a second per gateway process (gateway.usage): one
upsert adds the requests the process admitted since its last flush, one grouped count reads
the unfinished items of every tenant. Neither holds a row lock past its own statement,
so a tenant's concurrent requests never queue behind each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.models import Item, ItemStatus, RateWindow

WINDOW_SECONDS = 60


def add_requests(deltas: dict[str, int], window: int, *, session: Session) -> dict[str, int]:
    """Add requests to tenants' counts of a one-minute window; return the new totals.

    `window` is minutes since the epoch. The first flush of a window clears older ones.
    """
    if not deltas:
        return {}
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    rows = [{"tenant": t, "window": window, "requests": n} for t, n in sorted(deltas.items())]
    values = insert(RateWindow).values(rows)
    statement = values.on_conflict_do_update(
        index_elements=["tenant", "window"],
        set_={"requests": RateWindow.requests + values.excluded.requests},
    ).returning(RateWindow.tenant, RateWindow.requests)
    totals = {tenant: int(requests) for tenant, requests in session.execute(statement)}
    session.execute(delete(RateWindow).where(RateWindow.window < window - 1))
    return totals


@dataclass(frozen=True)
class UnfinishedWork:
    """Items still to run: per tenant (queued or running), and queued service-wide."""

    per_tenant: dict[str, int] = field(default_factory=dict)
    queued: int = 0


def count_unfinished(*, session: Session) -> UnfinishedWork:
    """Count queued and running items of every tenant in one grouped query."""
    statement = (
        select(Item.tenant, Item.status, func.count())
        .where(Item.status.in_([ItemStatus.QUEUED, ItemStatus.RUNNING]))
        .group_by(Item.tenant, Item.status)
    )
    per_tenant: dict[str, int] = {}
    queued = 0
    for tenant, status, count in session.execute(statement):
        per_tenant[tenant] = per_tenant.get(tenant, 0) + int(count)
        if status == ItemStatus.QUEUED:
            queued += int(count)
    return UnfinishedWork(per_tenant, queued)
