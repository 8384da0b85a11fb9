"""The gateway's task publisher: its Celery app is made on the first publish, not at start.

Importing and configuring Celery takes about 0.15 s of CPU, which the cold start (process
start to the first 200 from /readyz) need not pay: the probe checks the broker with kombu
alone (core.queue.check_broker).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from core.queue import make_celery
from core.settings import Settings

if TYPE_CHECKING:
    from celery import Celery


class Publisher:
    """Holds the Celery app that publishes wake-ups, made once, by whichever thread asks first."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._celery: Celery | None = None
        self._lock = threading.Lock()

    @property
    def celery(self) -> Celery:
        """Return the Celery app, making it on the first call."""
        with self._lock:
            if self._celery is None:
                self._celery = make_celery(self._settings)
            return self._celery
