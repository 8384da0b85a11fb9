"""Prometheus metrics: request counts and durations, plus database-wide gauges at scrape."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db.metrics import compute_metrics
from db.session import get_session


class DatabaseCollector(Collector):
    """Reads queue depth, item counts and latency percentiles from the database."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with get_session(self._url) as session:
            metrics = compute_metrics(session=session)
        yield GaugeMetricFamily(
            "inferq_queue_depth", "Items queued, not yet claimed.", value=metrics["queue_depth"]
        )
        items = GaugeMetricFamily("inferq_items", "Items by status.", labels=["status"])
        for status, count in metrics["items_by_status"].items():
            items.add_metric([status], count)
        yield items
        latency = GaugeMetricFamily(
            "inferq_latency_ms", "Latency percentiles.", labels=["kind", "quantile"]
        )
        for kind, values in metrics["latency_ms"].items():
            for quantile, value in values.items():
                if value is not None:
                    latency.add_metric([kind, quantile], value)
        yield latency


class Telemetry:
    """The gateway's own registry and request instruments."""

    def __init__(self, database_url: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "inferq_http_requests",
            "HTTP requests by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "inferq_http_request_duration_seconds",
            "HTTP request duration.",
            ["method", "route"],
            registry=self.registry,
        )
        self.registry.register(DatabaseCollector(database_url))


class TelemetryMiddleware:
    """Count and time every request by its route template (pure ASGI: no task per request)."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before starting a response

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.telemetry.requests.labels(method, path, str(status)).inc()
            self.telemetry.duration.labels(method, path).observe(time.perf_counter() - started)
