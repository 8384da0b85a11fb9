"""Thin Celery tasks: they carry item IDs and call worker.inference."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import OperationalError

from core.tasks import INFER_ITEMS
from worker.celery_app import app, get_runtime
from worker.inference import process_items


@app.task(
    name=INFER_ITEMS,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=20,
)
def infer_items(item_ids: list[str]) -> int:
    """Classify a chunk of items; database outages are retried with backoff."""
    return process_items([uuid.UUID(item_id) for item_id in item_ids], get_runtime())
