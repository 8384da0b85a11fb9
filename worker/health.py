"""A tiny HTTP health endpoint, so Cloud Run can run a worker as an always-on service."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger(__name__)


class HealthState:
    """What the endpoint reports: whether the worker consumes, and its model."""

    def __init__(self) -> None:
        self.ready = False
        self.details: dict[str, Any] = {}


def make_handler(state: HealthState) -> type[BaseHTTPRequestHandler]:
    """Return a request handler answering 200 once the worker is ready, else 503."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = 200 if state.ready else 503
            body = json.dumps({"status": "ok" if state.ready else "starting", **state.details})
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
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
