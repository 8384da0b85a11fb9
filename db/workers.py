"""Worker heartbeats: each worker process upserts its own row; readers filter by age."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.models import Worker, WorkerState, utc_now
from db.served import live_since


@dataclass(frozen=True)
class Heartbeat:
    """What one worker says of itself now."""

    worker_id: str
    host: str
    pid: int
    state: WorkerState
    model_id: int | None = None
    batches: int = 0
    items: int = 0
    error: str | None = None


def record_heartbeat(beat: Heartbeat, *, started: bool = False, session: Session) -> None:
    """Upsert a worker's row; `started` resets its start time (a new process, same name)."""
    now = utc_now()
    values = {
        "host": beat.host,
        "pid": beat.pid,
        "state": beat.state,
        "model_id": beat.model_id,
        "batches": beat.batches,
        "items": beat.items,
        "error": beat.error,
        "last_seen_at": now,
    }
    if started:
        values["started_at"] = now
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Worker).values(id=beat.worker_id, **{"started_at": now, **values})
    session.execute(statement.on_conflict_do_update(index_elements=["id"], set_=values))


def list_workers(*, session: Session, limit: int = 500) -> list[Worker]:
    """Return workers, most recently seen first."""
    statement = select(Worker).order_by(Worker.last_seen_at.desc()).limit(limit)
    return list(session.scalars(statement))


def count_ready(*, session: Session, stale_seconds: float) -> int:
    """Return how many workers are ready, serve a model and were seen lately."""
    statement = select(func.count()).where(
        Worker.state == WorkerState.READY,
        Worker.model_id.is_not(None),
        Worker.last_seen_at >= live_since(stale_seconds),
    )
    return session.scalar(statement) or 0
