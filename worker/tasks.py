"""Thin Celery tasks: they carry item IDs and hand them to the process's batch engine."""

from __future__ import annotations

import uuid

from celery import Task
from sqlalchemy.exc import OperationalError

from core.settings import get_settings
from core.tasks import INFER_ITEMS
from worker.celery_app import app
from worker.engine import BatchEngine
from worker.runtime import build_runtime


class InferenceTask(Task):  # type: ignore[misc]
    """Task base holding the process's batch engine, built once the process has started."""

    _engine: BatchEngine | None = None

    @property
    def engine(self) -> BatchEngine:
        """Return this process's engine, loading the model on first use."""
        if self._engine is None:
            type(self)._engine = BatchEngine(build_runtime(get_settings()))
        assert self._engine is not None
        return self._engine


@app.task(
    name=INFER_ITEMS,
    base=InferenceTask,
    bind=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=20,
)
def infer_items(self: InferenceTask, item_ids: list[str]) -> int:
    """Wake the engine for these items; database outages are retried with backoff."""
    return self.engine.serve([uuid.UUID(item_id) for item_id in item_ids])
