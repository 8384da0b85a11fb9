"""The gateway's task publisher: wake-ups for committed items, many requests' in one message.

A route hands the IDs of items it has committed to `Publisher.wake` and answers at once. One
background thread sends them: whatever accumulated while it was sending the last message
goes in the next, up to a batch (`INFERQ_MAX_BATCH_SIZE` IDs) a message, most urgent
priority first. Under load, one broker message then wakes a worker for a whole batch of
one-image requests instead of one message (and one Celery task) per image; when the
gateway is idle a wake-up leaves as soon as it is handed over. While a worker drains the
queue with room for them, no wake-up is sent at all: its next claim takes the items
(core.drain_mark). Items whose wake-up could
not be sent are marked unpublished, so the sweeper republishes them at its next pass; the
items of a gateway killed between commit and send are republished once their publish time
is stale. PostgreSQL stays the source of truth either way.

Importing and configuring Celery takes about 0.15 s of CPU, which the cold start (process
start to the first 200 from /readyz) need not pay: the app is made on the first send, and
the readiness probe checks the broker with kombu alone (core.queue.check_broker).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from core.completion import signal_url
from core.drain_mark import DrainMark
from core.priority import Priority
from core.queue import make_celery, publish_items
from core.settings import Settings
from db.jobs import mark_published
from db.session import get_session

if TYPE_CHECKING:
    from celery import Celery

logger = logging.getLogger(__name__)


class Publisher:
    """Holds the Celery app (made by whichever thread asks first) and the sending thread."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._drain_mark = DrainMark(signal_url(settings), settings.resolved_database_url)
        self._celery: Celery | None = None
        self._app_lock = threading.Lock()
        self._ready = threading.Condition()
        self._pending: dict[Priority, list[uuid.UUID]] = {}
        self._sender: threading.Thread | None = None
        self._sending = False
        self._closed = False
        self.sent = 0  # items whose wake-up went to the broker
        self.skipped = 0  # items left to a draining worker's next claim (core.drain_mark)

    @property
    def celery(self) -> Celery:
        """Return the Celery app, making it on the first call."""
        with self._app_lock:
            if self._celery is None:
                self._celery = make_celery(self._settings)
            return self._celery

    def wake(self, item_ids: Iterable[uuid.UUID], priority: Priority) -> None:
        """Have committed items' wake-ups sent on their priority's queue, soon, by the
        sending thread. After `close` they are sent on the caller's thread."""
        ids = list(item_ids)
        if not ids:
            return
        with self._ready:
            if not self._closed:
                self._pending.setdefault(priority, []).extend(ids)
                if self._sender is None:
                    self._sender = threading.Thread(
                        target=self._run, name="inferq-publisher", daemon=True
                    )
                    self._sender.start()
                self._ready.notify()
                return
        self._send({priority: ids})

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every wake-up handed over so far has been sent (or given up on);
        return whether that happened within `timeout` seconds."""
        with self._ready:
            return self._ready.wait_for(lambda: not self._pending and not self._sending, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Send what is pending and stop the sending thread (the app's shutdown)."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()
            sender = self._sender
        if sender is not None:
            sender.join(timeout)

    def _run(self) -> None:
        while True:
            with self._ready:
                self._sending = False
                self._ready.notify_all()  # for flush()
                self._ready.wait_for(lambda: self._pending or self._closed)
                if not self._pending:
                    return
                pending, self._pending = self._pending, {}
                self._sending = True
            self._send(pending)

    def _send(self, pending: dict[Priority, list[uuid.UUID]]) -> None:
        count = sum(len(ids) for ids in pending.values())
        if count <= self._drain_mark.room():
            self.skipped += count  # a draining worker's next claim takes them
            return
        for priority in sorted(pending, key=lambda level: level.rank):
            ids = pending[priority]
            try:
                publish_items(
                    self.celery, [str(i) for i in ids], self._settings.max_batch_size, priority
                )
                self.sent += len(ids)
            except Exception:
                logger.warning("broker unreachable; %d items wait for the sweeper", len(ids))
                self._leave_to_sweeper(ids)

    def _leave_to_sweeper(self, ids: list[uuid.UUID]) -> None:
        try:
            with get_session(self._settings.resolved_database_url) as session:
                mark_published(ids, session=session, published=False)
        except Exception:  # their publish time goes stale: the sweeper finds them later
            logger.warning("could not mark %d items unpublished", len(ids))
