"""A tiny HTTP endpoint, so Cloud Run can run a worker as an always-on service.

`/` (any path) answers the health probe as JSON; `/metrics` answers Prometheus text with
the batches and images this process ran, whose ratio is the mean batch size.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from db.models import WorkerState

logger = logging.getLogger(__name__)


class Counters(Protocol):
    """What the endpoint reads of the engine's batch counters."""

    batches: int
    items: int


class HealthState:
    """What the endpoint and the heartbeat report: state, model and batches of the worker."""

    def __init__(self) -> None:
        self.state = WorkerState.LOADING
        self.model_id: int | None = None
        self.error: str | None = None
        self.details: dict[str, Any] = {}
        self.counters: Counters | None = None

    @property
    def ready(self) -> bool:
        """Whether the worker has its model and consumes tasks."""
        return self.state == WorkerState.READY

    def snapshot(self) -> dict[str, Any]:
        """Return the health body."""
        batches = self.counters.batches if self.counters else 0
        items = self.counters.items if self.counters else 0
        return {
            "status": "ok" if self.ready else self.state.value,
            **self.details,
            "batches": batches,
            "items": items,
            "mean_batch_size": round(items / batches, 2) if batches else None,
        }

    def prometheus(self) -> str:
        """Return the counters as Prometheus text."""
        body = self.snapshot()
        return (
            "# HELP inferq_worker_batches_total Model batches this worker process ran.\n"
            "# TYPE inferq_worker_batches_total counter\n"
            f"inferq_worker_batches_total {body['batches']}\n"
            "# HELP inferq_worker_images_total Images this worker process ran the model on.\n"
            "# TYPE inferq_worker_images_total counter\n"
            f"inferq_worker_images_total {body['items']}\n"
            "# HELP inferq_worker_ready Whether the worker consumes tasks.\n"
            "# TYPE inferq_worker_ready gauge\n"
            f"inferq_worker_ready {int(self.ready)}\n"
        )


def make_handler(state: HealthState) -> type[BaseHTTPRequestHandler]:
    """Return a request handler answering 200 once the worker is ready, else 503."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/metrics":
                self._answer(200, "text/plain; version=0.0.4", state.prometheus())
                return
            code = 200 if state.ready else 503
            self._answer(code, "application/json", json.dumps(state.snapshot()))

        def _answer(self, code: int, content_type: str, body: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.end_headers()
            self.wfile.write(body.encode())

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
