"""A tiny HTTP endpoint, so Cloud Run can run a worker as an always-on service.

`/` (any path) answers the health probe as JSON; `/metrics` answers the process's
Prometheus metrics (worker.metrics): batch sizes, stage times, outcomes, the served model.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from db.models import WorkerState
from worker.metrics import WorkerMetrics

logger = logging.getLogger(__name__)


class HealthState:
    """What the endpoint and the heartbeat report: state, model and batches of the worker."""

    def __init__(self) -> None:
        self.state = WorkerState.LOADING
        self.model_id: int | None = None
        self.error: str | None = None
        self.details: dict[str, Any] = {}
        self.metrics: WorkerMetrics | None = None

    @property
    def ready(self) -> bool:
        """Whether the worker has its model and consumes tasks."""
        return self.state == WorkerState.READY

    def snapshot(self) -> dict[str, Any]:
        """Return the health body."""
        batches = self.metrics.batches if self.metrics else 0
        items = self.metrics.items if self.metrics else 0
        return {
            "status": "ok" if self.ready else self.state.value,
            **self.details,
            "batches": batches,
            "items": items,
            "mean_batch_size": round(items / batches, 2) if batches else None,
        }

    def prometheus(self) -> bytes:
        """Return the process's metrics as Prometheus text."""
        if self.metrics is None:
            return f"inferq_worker_ready {int(self.ready)}\n".encode()
        return self.metrics.exposition(self.ready)


def make_handler(state: HealthState) -> type[BaseHTTPRequestHandler]:
    """Return a request handler answering 200 once the worker is ready, else 503."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/metrics":
                self._answer(200, CONTENT_TYPE_LATEST, state.prometheus())
                return
            code = 200 if state.ready else 503
            self._answer(code, "application/json", json.dumps(state.snapshot()).encode())

        def _answer(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # probes every few seconds would drown the worker's log

    return Handler


def serve_health(port: int, state: HealthState) -> ThreadingHTTPServer:
    """Start answering health probes on `port` in a daemon thread."""
    server = ThreadingHTTPServer(("0.0.0.0", port), make_handler(state))
    thread = threading.Thread(target=server.serve_forever, name="inferq-health", daemon=True)
    thread.start()
    logger.info("health endpoint on port %d", port)
    return server
