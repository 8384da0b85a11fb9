"""Prometheus metrics: request counts and duration histograms, wake-ups sent and skipped,
plus queue counts at scrape."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db.metrics import count_items_by_status
from db.session import get_session
from db.workers import count_ready

if TYPE_CHECKING:
    from gateway.publisher import Publisher


class DatabaseCollector(Collector):
    """Reads the queue's item counts and the ready workers from the database at scrape.

    Only counts: latency lives in histograms (the request durations here, and each worker's
    queue-wait and inference histograms on its own `/metrics`), never in percentiles
    recomputed over the results table at every scrape.
    """

    def __init__(self, database_url: str, stale_seconds: float) -> None:
        self._url = database_url
        self._stale = stale_seconds

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with get_session(self._url, "probes") as session:
            by_status = count_items_by_status(session=session)
            ready = count_ready(session=session, stale_seconds=self._stale)
        yield GaugeMetricFamily(
            "inferq_queue_depth", "Items queued, not yet claimed.", value=by_status["queued"]
        )
        items = GaugeMetricFamily("inferq_items", "Items by status.", labels=["status"])
        for status, count in by_status.items():
            items.add_metric([status], count)
        yield items
        yield GaugeMetricFamily(
            "inferq_workers_ready", "Ready workers serving a model, seen lately.", value=ready
        )


class WakeUpCollector(Collector):
    """Counts the items handed to the publisher by what became of their wake-up."""

    def __init__(self, publisher: Publisher) -> None:
        self._publisher = publisher

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "inferq_wake_ups",
            "Items committed by this gateway: their wake-up sent, or skipped because a "
            "draining worker had room for them.",
            labels=["outcome"],
        )
        family.add_metric(["sent"], self._publisher.sent)
        family.add_metric(["skipped"], self._publisher.skipped)
        yield family


class Telemetry:
    """The gateway's own registry and request instruments."""

    def __init__(self, database_url: str, stale_seconds: float, publisher: Publisher) -> None:
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
        self.registry.register(DatabaseCollector(database_url, stale_seconds))
        self.registry.register(WakeUpCollector(publisher))


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
