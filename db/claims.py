"""Worker-side writes: claim items under a lease, record results, fail or hand back items.

Every write is guarded by the item's status, so a redelivered task or a second worker can
never produce a second result for an item.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.claim_order import claim_candidates
from db.models import Item, ItemStatus, Result, table_of, utc_now


@dataclass(frozen=True)
class ClaimedItem:
    """An item this worker now holds under a lease."""

    id: uuid.UUID
    job_id: uuid.UUID
    content_hash: str
    created_at: datetime
    attempts: int
    claimed_at: datetime
    priority: int = 1  # core.priority's rank: 0 interactive, 1 normal, 2 bulk


@dataclass(frozen=True)
class Outcome:
    """A classification ready to be written as a result row."""

    item: ClaimedItem
    label: str
    probability: float
    scores: dict[str, float]
    inference_ms: float  # the item's share: the batch's model time over its size
    batch_ms: float | None = None  # the whole batch's model time
    batch_size: int | None = None
    warnings: list[str] = field(default_factory=list)  # ways the input is unlike training's


def _claimed(rows: Any, now: datetime) -> list[ClaimedItem]:
    return [
        ClaimedItem(
            row.id, row.job_id, row.content_hash, row.created_at, row.attempts, now, row.priority
        )
        for row in rows
    ]


# The claims' and results' statements, built once on the tables with bound parameters:
# building them per batch cost the worker more CPU than the database spends running them.
_ITEMS = table_of(Item)
_RETURNED = ("id", "job_id", "content_hash", "created_at", "attempts", "priority")


def _take_statement(where: Any, attempts: Any) -> Any:
    """Mark the items `ids` matching `where` running under `worker`'s lease; return them."""
    return (
        update(_ITEMS)
        .where(_ITEMS.c.id.in_(bindparam("ids", expanding=True)), where)
        .values(
            status=ItemStatus.RUNNING,
            attempts=attempts,
            worker_id=bindparam("worker"),
            lease_expires_at=bindparam("lease"),
            started_at=bindparam("now"),
        )
        .returning(*(_ITEMS.c[name] for name in _RETURNED))
    )


# claim_queued: the candidates the claim order chose, if still queued.
TAKE_QUEUED = _take_statement(_ITEMS.c.status == ItemStatus.QUEUED, _ITEMS.c.attempts + 1)

_OURS = and_(_ITEMS.c.status == ItemStatus.RUNNING, _ITEMS.c.worker_id == bindparam("worker"))
# claim_items: queued or lease-expired items with attempts left; a retried task re-claims
# its own items without waiting for the lease, and without spending another attempt.
TAKE_NAMED = _take_statement(
    and_(
        or_(
            _ITEMS.c.status == ItemStatus.QUEUED,
            and_(
                _ITEMS.c.status == ItemStatus.RUNNING, _ITEMS.c.lease_expires_at < bindparam("now")
            ),
            _OURS,
        ),
        _ITEMS.c.attempts < bindparam("max_attempts"),
    ),
    case((_OURS, _ITEMS.c.attempts), else_=_ITEMS.c.attempts + 1),
)

MARK_SUCCEEDED = (
    update(_ITEMS)
    .where(_ITEMS.c.id.in_(bindparam("ids", expanding=True)), _ITEMS.c.status == ItemStatus.RUNNING)
    .values(
        status=ItemStatus.SUCCEEDED, finished_at=bindparam("now"), lease_expires_at=None, error=None
    )
    .returning(_ITEMS.c.id)
)

# By dialect: a result already written is kept.
INSERT_RESULTS = {
    "postgresql": postgresql.insert(table_of(Result)).on_conflict_do_nothing(
        index_elements=["item_id"]
    ),
    "sqlite": sqlite.insert(table_of(Result)).on_conflict_do_nothing(index_elements=["item_id"]),
}


def claim_items(
    item_ids: list[uuid.UUID],
    *,
    session: Session,
    worker_id: str,
    lease_seconds: int,
    max_attempts: int,
) -> list[ClaimedItem]:
    """Take these queued (or lease-expired) items for this worker and return those it got."""
    if not item_ids:
        return []
    return _take(session, TAKE_NAMED, item_ids, worker_id, lease_seconds, max_attempts=max_attempts)


def _take(
    session: Session,
    statement: Any,
    item_ids: list[uuid.UUID],
    worker_id: str,
    lease_seconds: int,
    **extra: object,
) -> list[ClaimedItem]:
    """Run a take statement for these items under a lease from now; return those taken."""
    now = utc_now()
    parameters = {
        "ids": item_ids,
        "worker": worker_id,
        "lease": now + timedelta(seconds=lease_seconds),
        "now": now,
        **extra,
    }
    return _claimed(session.connection().execute(statement, parameters), now)


def claim_queued(
    limit: int,
    *,
    session: Session,
    worker_id: str,
    lease_seconds: int,
    ageing_seconds: float = 300.0,
    lowest: int = 2,
) -> list[ClaimedItem]:
    """Take up to `limit` queued items of any job for this worker: most urgent first
    (priority aged by waiting), fair between tenants (db.claim_order); only items of
    priority rank `lowest` or more urgent (0: interactive items alone)."""
    if limit <= 0:
        return []
    candidates = claim_candidates(session, limit, utc_now(), ageing_seconds, lowest)
    if not candidates:
        return []
    return _take(session, TAKE_QUEUED, candidates, worker_id, lease_seconds)


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> None:
    insert = INSERT_RESULTS[session.get_bind().dialect.name]
    session.connection().execute(insert, rows)  # plain INSERT: the ORM's bulk path costs more


def record_results(
    outcomes: list[Outcome],
    *,
    session: Session,
    worker_id: str,
    model_name: str,
    model_version: str,
    model_id: int | None = None,
) -> int:
    """Mark the items that are still running succeeded and write their results; return how
    many. An item handed back, failed or finished meanwhile gets no result from this call,
    and a result written already is kept (one result an item)."""
    if not outcomes:
        return 0
    now = utc_now()
    ids = [outcome.item.id for outcome in outcomes]
    marked = set(session.connection().execute(MARK_SUCCEEDED, {"ids": ids, "now": now}).scalars())
    rows = [
        {
            "item_id": outcome.item.id,
            "job_id": outcome.item.job_id,
            "label": outcome.label,
            "probability": outcome.probability,
            "scores": outcome.scores,
            "model_name": model_name,
            "model_version": model_version,
            "model_id": model_id,
            "queue_ms": (outcome.item.claimed_at - outcome.item.created_at).total_seconds() * 1e3,
            "inference_ms": outcome.inference_ms,
            "batch_ms": outcome.batch_ms,
            "batch_size": outcome.batch_size,
            "total_ms": (now - outcome.item.created_at).total_seconds() * 1000.0,
            "worker_id": worker_id,
            "created_at": now,
            "warnings": outcome.warnings,
        }
        for outcome in outcomes
        if outcome.item.id in marked
    ]
    if rows:
        _insert_ignoring_duplicates(session, rows)
    return len(rows)


def fail_items(errors: dict[uuid.UUID, str], *, session: Session) -> None:
    """Mark running items failed, each with its reason."""
    now = utc_now()
    for item_id, reason in errors.items():
        session.execute(
            update(Item)
            .where(Item.id == item_id, Item.status == ItemStatus.RUNNING)
            .values(status=ItemStatus.FAILED, error=reason[:2000], finished_at=now)
            .execution_options(synchronize_session=False)
        )


def release_items(item_ids: list[uuid.UUID], *, session: Session, worker_id: str) -> int:
    """Hand unfinished items back to the queue without spending an attempt."""
    if not item_ids:
        return 0
    result = session.execute(
        update(Item)
        .where(
            Item.id.in_(item_ids),
            Item.status == ItemStatus.RUNNING,
            Item.worker_id == worker_id,
        )
        .values(
            status=ItemStatus.QUEUED,
            attempts=Item.attempts - 1,
            lease_expires_at=None,
            worker_id=None,
            published_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
