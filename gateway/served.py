"""The public views of served models and workers, built from their database rows."""

from __future__ import annotations

from core.model_card import ModelCard
from db.models import ServedModel, Worker
from db.served import live_since
from gateway.service_schemas import ServedModelPublic, WorkerPublic


def model_public(row: ServedModel, live_workers: int) -> ServedModelPublic:
    """Return a served model's card with its registry origin and live workers."""
    card = ModelCard.model_validate(row.card)
    return ServedModelPublic(
        **card.model_dump(),
        id=row.id,
        registered_name=row.registered_name,
        registered_version=row.registered_version,
        run_id=row.run_id,
        runtime=row.runtime,
        precision=row.precision,
        first_loaded_at=row.first_loaded_at,
        live_workers=live_workers,
    )


def worker_public(row: Worker, model: ServedModel | None, stale_seconds: float) -> WorkerPublic:
    """Return a worker's last heartbeat, with whether it is recent."""
    return WorkerPublic(
        id=row.id,
        host=row.host,
        pid=row.pid,
        state=row.state,  # type: ignore[arg-type]
        live=row.last_seen_at >= live_since(stale_seconds),
        model_id=row.model_id,
        model_name=model.name if model else None,
        model_version=model.version if model else None,
        started_at=row.started_at,
        last_seen_at=row.last_seen_at,
        batches=row.batches,
        items=row.items,
        error=row.error,
    )
