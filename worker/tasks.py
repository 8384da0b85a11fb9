"""Thin Celery tasks: they carry item IDs and hand them to the process's batch engine."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from celery import Task
from sqlalchemy.exc import OperationalError

from core.queue import wake_block_runners, wake_workers
from core.settings import get_settings
from core.tasks import INFER_ITEMS, RUN_BLOCKS, TILE_SLIDE
from worker.celery_app import app
from worker.engine import BatchEngine
from worker.runtime import build_runtime
from worker.slides.blocks import run_blocks
from worker.slides.regions import SlideCache
from worker.slides.tiling import tile_slide


class InferenceTask(Task):  # type: ignore[misc]
    """Task base holding the process's batch engine, built once the process has started.

    Every task of the process shares one engine and one slide cache: both are set on this
    base class, not on the task's own subclass (Celery makes one per task), so the model
    is loaded once, and shutdown and model switches reach slide runners too.
    """

    _engine: BatchEngine | None = None
    _slides: SlideCache | None = None

    @property
    def engine(self) -> BatchEngine:
        """Return this process's engine, loading the model on first use."""
        if self._engine is None:
            runtime = build_runtime(get_settings())
            InferenceTask._engine = BatchEngine(runtime, wake=lambda: wake_workers(self.app))
        assert self._engine is not None
        return self._engine

    @property
    def slides(self) -> SlideCache:
        """Return this process's cache of open slides."""
        if self._slides is None:
            InferenceTask._slides = SlideCache(get_settings().slide_open_handles)
        assert self._slides is not None
        return self._slides


def engine_task(name: str) -> Callable[[Callable[..., int]], Any]:
    """Return the decorator of a task run by the process's engine; database outages are
    retried with backoff."""
    return app.task(  # type: ignore[no-any-return]
        name=name,
        base=InferenceTask,
        bind=True,
        autoretry_for=(OperationalError,),
        retry_backoff=True,
        retry_backoff_max=60,
        max_retries=20,
    )


@engine_task(INFER_ITEMS)
def infer_items(self: InferenceTask, item_ids: list[str]) -> int:
    """Wake the engine for these items; database outages are retried with backoff."""
    return self.engine.serve([uuid.UUID(item_id) for item_id in item_ids])


#: Wake-ups a tiled slide publishes: each runs blocks while any waits, so several workers
#: share one slide's blocks.
BLOCK_WAKE_UPS = 4


@engine_task(TILE_SLIDE)
def tile_slide_task(self: InferenceTask, slide_id: str) -> int:
    """Tile one slide into blocks, then wake block runners (this process among them)."""
    runtime = self.engine.runtime
    card = runtime.served.model.card
    blocks = tile_slide(
        uuid.UUID(slide_id), card, runtime.settings, runtime.store, runtime.worker_id
    )
    if blocks:
        wake_block_runners(self.app, min(blocks, BLOCK_WAKE_UPS))
    return blocks


@engine_task(RUN_BLOCKS)
def run_blocks_task(self: InferenceTask) -> int:
    """Run waiting slide blocks of any slide for up to the drain time, then hand on.

    A runner that stops with blocks left (time up, or interactive items waiting) wakes
    another runner on the bulk queue, which the worker takes after the interactive one.
    """
    runtime = self.engine.runtime
    done, more = run_blocks(runtime, self.slides, runtime.settings.max_drain_seconds)
    if more and not runtime.stopping.is_set():
        wake_block_runners(self.app, 1)
    return done
