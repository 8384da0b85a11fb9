"""The sweeper: PostgreSQL is the truth, so republish what the broker may have lost."""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta

from celery import Celery

from core.priority import Priority
from core.queue import publish_items, publish_slides, wake_block_runners, wake_workers
from core.settings import Settings
from db.jobs import mark_published
from db.models import utc_now
from db.session import get_session
from db.slide_blocks import sweep_slides
from db.sweeps import by_priority, claimed_before, fail_exhausted, find_stalled, queued_since

logger = logging.getLogger(__name__)


def sweep_once(settings: Settings, app: Celery) -> tuple[int, int]:
    """Fail items out of attempts and republish stalled ones, each on the queue of its
    priority; return (failed, republished)."""
    url = settings.resolved_database_url
    with get_session(url) as session:
        failed = fail_exhausted(session=session, max_attempts=settings.max_attempts)
        stalled = find_stalled(session=session, stale_queued_seconds=settings.stale_queued_seconds)
        suspects = claimed_before(stalled, session=session)
        groups = by_priority(stalled, session=session)
        since = utc_now() - timedelta(seconds=settings.sweep_interval_seconds)
        waiting = not stalled and queued_since(since, session=session)
    if waiting:
        # Items that waited a whole pass unclaimed may have had their wake-ups skipped for a
        # worker that died draining (core.drain_mark): one wake-up drains them all.
        wake_workers(app)
    for rank, item_ids in groups.items():
        republish(app, item_ids, suspects, settings.max_batch_size, Priority.from_rank(rank))
    if stalled:
        with get_session(url) as session:
            mark_published(stalled, session=session)
    if failed or stalled:
        logger.info("sweep: %d failed for good, %d republished", failed, len(stalled))
    sweep_slide_work(settings, app)
    return failed, len(stalled)


def republish(
    app: Celery,
    item_ids: list[uuid.UUID],
    suspects: set[uuid.UUID],
    batch_size: int,
    priority: Priority,
) -> None:
    """Publish stalled items of one priority again on its queue."""
    fresh = [str(item_id) for item_id in item_ids if item_id not in suspects]
    publish_items(app, fresh, batch_size, priority)
    # An item whose worker was lost may be what killed it: one a task, so that on its
    # next attempts it takes down only itself, never the rest of a batch.
    lost = [str(item_id) for item_id in item_ids if item_id in suspects]
    publish_items(app, lost, 1, priority)


def sweep_slide_work(settings: Settings, app: Celery) -> None:
    """Republish slides to tile again and wake block runners while blocks wait."""
    with get_session(settings.resolved_database_url) as session:
        retile, waiting = sweep_slides(
            session=session,
            stale_seconds=settings.stale_queued_seconds,
            max_attempts=settings.max_attempts,
        )
    if retile:
        publish_slides(app, [str(slide_id) for slide_id in retile])
    if waiting:
        wake_block_runners(app, 1)  # a runner drains every waiting block, of any slide


class SweeperThread(threading.Thread):
    """Runs sweep_once every interval until stopped; errors are logged, never fatal."""

    def __init__(self, settings: Settings, app: Celery) -> None:
        super().__init__(name="inferq-sweeper", daemon=True)
        self._settings = settings
        self._app = app
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self._settings.sweep_interval_seconds):
            try:
                sweep_once(self._settings, self._app)
            except Exception:
                logger.exception("sweep failed; retrying next interval")

    def stop(self) -> None:
        """Ask the loop to end after the current sweep."""
        self._stop_event.set()
