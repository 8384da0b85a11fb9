"""The worker's row in the `workers` table, written every few seconds by a daemon thread.

The gateway reads these rows for `/readyz`, `GET /v1/workers` and `GET /v1/model`; a row
not refreshed within `worker_stale_seconds` no longer counts as a live worker.
"""

from __future__ import annotations

import logging
import os
import threading

from core.settings import Settings
from db.models import WorkerState
from db.session import get_session
from db.workers import Heartbeat, record_heartbeat
from worker.health import HealthState

logger = logging.getLogger(__name__)


class HeartbeatThread(threading.Thread):
    """Records the worker's state, model and counters until stopped."""

    def __init__(self, settings: Settings, health: HealthState) -> None:
        super().__init__(name="inferq-heartbeat", daemon=True)
        self.settings = settings
        self.health = health
        self._stopped = threading.Event()

    def beat(self, state: WorkerState | None = None, *, started: bool = False) -> None:
        """Write the worker's row now (in `state`, if given); an outage costs this beat."""
        health = self.health
        counters = health.metrics
        heartbeat = Heartbeat(
            worker_id=self.settings.resolved_worker_id,
            host=os.uname().nodename,
            pid=os.getpid(),
            state=state or health.state,
            model_id=health.model_id,
            batches=counters.batches if counters else 0,
            items=counters.items if counters else 0,
            error=health.error,
        )
        try:
            with get_session(self.settings.resolved_database_url) as session:
                record_heartbeat(heartbeat, started=started, session=session)
        except Exception as exc:
            logger.warning("heartbeat not recorded: %s", type(exc).__name__)

    def run(self) -> None:
        self.beat(started=True)
        while not self._stopped.wait(self.settings.heartbeat_seconds):
            self.beat()

    def stop(self) -> None:
        """Stop beating and record the final state."""
        self._stopped.set()
        if self.is_alive():
            self.join(5)
        self.beat()
