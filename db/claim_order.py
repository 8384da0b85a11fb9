"""The order the batch claim takes queued items in: priority first, aged by waiting, then
in turns between tenants, then oldest first.

An item's rank is its priority (0 interactive, 1 normal, 2 bulk) less one level for every
`ageing_seconds` it has waited, with no floor. So an item of priority p ranks with fresh
interactive items after p x ageing_seconds, and ahead of every item submitted later after
one more period: bulk work is delayed, never starved.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Float, Integer, bindparam, cast, func, literal, select, text
from sqlalchemy.orm import Session

from db.models import Item, ItemStatus, UTCDateTime

# PostgreSQL: visit each tenant with queued items through the partial index on (tenant,
# priority, created_at) (a skip scan, so the cost grows with tenants, not with queued
# items), find each tenant's best rank from the oldest item of each priority, let the
# `limit` most urgent tenants offer their oldest items of each priority, and deal them out
# by rank, in turns between tenants within a rank. Only the best 4 x limit candidates are
# looked up by primary key (room for rows another worker is claiming: those are skipped,
# not waited for).
_CANDIDATES_PG = text(
    """
WITH RECURSIVE tenants(tenant) AS (
    (SELECT tenant FROM items WHERE status = 'queued' ORDER BY tenant LIMIT 1)
  UNION ALL
    SELECT (SELECT i.tenant FROM items i
            WHERE i.status = 'queued' AND i.tenant > t.tenant ORDER BY i.tenant LIMIT 1)
    FROM tenants t WHERE t.tenant IS NOT NULL
),
wanted(priority) AS (
    SELECT v.priority FROM (VALUES (0), (1), (2)) AS v(priority) WHERE v.priority <= :lowest
),
levels AS (
    SELECT t.tenant, p.priority,
           (SELECT min(i.created_at) FROM items i
            WHERE i.status = 'queued' AND i.tenant = t.tenant
              AND i.priority = p.priority) AS since
    FROM tenants t CROSS JOIN wanted p
    WHERE t.tenant IS NOT NULL
),
waiting AS (
    SELECT tenant,
           min(priority - floor(extract(epoch FROM (:now - since)) / :ageing)) AS best,
           min(since) AS since
    FROM levels WHERE since IS NOT NULL
    GROUP BY tenant
    ORDER BY best, since LIMIT :limit
),
candidates AS (
    SELECT c.id, c.created_at, c.rank,
           row_number() OVER (PARTITION BY w.tenant, c.rank ORDER BY c.created_at) AS turn
    FROM waiting w CROSS JOIN wanted p
    CROSS JOIN LATERAL (
        SELECT i.id, i.created_at,
               i.priority - floor(extract(epoch FROM (:now - i.created_at)) / :ageing) AS rank
        FROM items i
        WHERE i.status = 'queued' AND i.tenant = w.tenant AND i.priority = p.priority
        ORDER BY i.created_at LIMIT :limit
    ) c
),
best AS (
    SELECT * FROM candidates ORDER BY rank, turn, created_at LIMIT :limit * 4
)
SELECT i.id FROM best c JOIN items i ON i.id = c.id
WHERE i.status = 'queued'
ORDER BY c.rank, c.turn, c.created_at
LIMIT :limit
FOR UPDATE OF i SKIP LOCKED
"""
).bindparams(
    bindparam("limit", type_=Integer),
    bindparam("now", type_=UTCDateTime()),
    bindparam("ageing", type_=Float),
    bindparam("lowest", type_=Integer),
)


def claim_candidates(
    session: Session, limit: int, now: datetime, ageing_seconds: float, lowest: int = 2
) -> list[uuid.UUID]:
    """Return up to `limit` queued item IDs of priority rank `lowest` or more urgent, in
    claim order (see the module docstring)."""
    if session.get_bind().dialect.name == "postgresql":
        parameters = {"limit": limit, "now": now, "ageing": ageing_seconds, "lowest": lowest}
        return [row[0] for row in session.execute(_CANDIDATES_PG, parameters)]
    # SQLite serves one worker on one machine: a window over the queued items is enough.
    waited = (func.julianday(literal(now, UTCDateTime())) - func.julianday(Item.created_at)) * 86400
    rank = Item.priority - cast(waited / ageing_seconds, Integer)  # waited >= 0: a floor
    ranked = select(Item.id, Item.tenant, Item.created_at, rank.label("rank")).where(
        Item.status == ItemStatus.QUEUED, Item.priority <= lowest
    )
    inner = ranked.subquery()
    turn = func.row_number().over(
        partition_by=(inner.c.tenant, inner.c.rank), order_by=inner.c.created_at
    )
    ordered = select(inner.c.id, inner.c.rank, inner.c.created_at, turn.label("turn")).subquery()
    statement = (
        select(ordered.c.id)
        .order_by(ordered.c.rank, ordered.c.turn, ordered.c.created_at)
        .limit(limit)
    )
    return list(session.scalars(statement))


def interactive_waiting(*, session: Session) -> bool:
    """Return whether any interactive item is queued (slide blocks step aside for it)."""
    statement = (
        select(Item.id)
        .where(Item.status == ItemStatus.QUEUED, Item.priority == 0)  # core.priority's rank
        .limit(1)
    )
    return session.scalars(statement).first() is not None
