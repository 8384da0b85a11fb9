"""The models workers serve: recorded once by the first worker that loads each."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.models import ServedModel, Worker, WorkerState, utc_now


def record_model(row: dict[str, Any], *, session: Session) -> int:
    """Insert a served model unless its fingerprint is known; return its row ID."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(ServedModel).values(**row).on_conflict_do_nothing(index_elements=["fingerprint"])
    )
    model_id = session.scalar(
        select(ServedModel.id).where(ServedModel.fingerprint == row["fingerprint"])
    )
    assert model_id is not None
    return model_id


def live_since(stale_seconds: float) -> datetime:
    """Return the oldest heartbeat a worker may have and still count as live."""
    return utc_now() - timedelta(seconds=stale_seconds)


def serving_counts(*, session: Session, stale_seconds: float) -> dict[int, int]:
    """Return how many live, ready workers serve each model row."""
    statement = (
        select(Worker.model_id, func.count())
        .where(
            Worker.state == WorkerState.READY,
            Worker.last_seen_at >= live_since(stale_seconds),
            Worker.model_id.is_not(None),
        )
        .group_by(Worker.model_id)
    )
    return {model_id: count for model_id, count in session.execute(statement) if model_id}


def list_models(*, session: Session, limit: int = 100) -> list[ServedModel]:
    """Return the models ever served, newest first."""
    statement = select(ServedModel).order_by(ServedModel.id.desc()).limit(limit)
    return list(session.scalars(statement))


def current_model(*, session: Session, stale_seconds: float) -> ServedModel | None:
    """Return the model most live workers serve now (the newest on a tie), else None."""
    counts = serving_counts(session=session, stale_seconds=stale_seconds)
    if not counts:
        return None
    model_id = max(counts, key=lambda key: (counts[key], key))
    return session.get(ServedModel, model_id)


def read_models(model_ids: set[int], *, session: Session) -> dict[int, ServedModel]:
    """Return these model rows by ID."""
    if not model_ids:
        return {}
    rows = session.scalars(select(ServedModel).where(ServedModel.id.in_(model_ids)))
    return {row.id: row for row in rows}
