"""The worker's Prometheus instruments, one registry per worker process.

Served at `/metrics` on the worker's health port (worker.health): batch sizes, decode,
inference and queue-wait times, items by outcome, and which model version is served.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
QUEUE_SECONDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class WorkerMetrics:
    """Batches, images and timings of this worker process, as Prometheus metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.batch_size = Histogram(
            "inferq_worker_batch_size",
            "Images a model batch held.",
            buckets=BATCH_SIZES,
            registry=registry,
        )
        self.inference = Histogram(
            "inferq_worker_inference_seconds",
            "Model time of a batch.",
            buckets=SECONDS,
            registry=registry,
        )
        self.decode = Histogram(
            "inferq_worker_decode_seconds",
            "Time to read and decode a batch's images.",
            buckets=SECONDS,
            registry=registry,
        )
        self.queue_wait = Histogram(
            "inferq_worker_queue_wait_seconds",
            "From upload to claim, per item.",
            buckets=QUEUE_SECONDS,
            registry=registry,
        )
        self.outcomes = Counter(
            "inferq_worker_items",
            "Items finished by this worker, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.batches_run = Counter(
            "inferq_worker_batches", "Model batches this worker process ran.", registry=registry
        )
        self.images = Counter(
            "inferq_worker_images",
            "Images this worker process ran the model on.",
            registry=registry,
        )
        self.model_info = Gauge(
            "inferq_worker_model_info",
            "The model this worker serves (value 1).",
            ["model_id", "name", "version", "registered_version", "runtime", "precision"],
            registry=registry,
        )
        self.ready = Gauge(
            "inferq_worker_ready", "Whether the worker consumes tasks.", registry=registry
        )
        self.batches = 0
        self.items = 0

    def observe_batch(
        self, size: int, stages_ms: dict[str, float], queue_seconds: list[float], failed: int
    ) -> None:
        """Record one batch: its size, stage times, each item's queue wait and outcomes."""
        self.batches += 1
        self.items += size
        self.batches_run.inc()
        self.images.inc(size)
        self.batch_size.observe(size)
        self.inference.observe(stages_ms.get("model", 0.0) / 1000.0)
        self.decode.observe(stages_ms.get("decode", 0.0) / 1000.0)
        for seconds in queue_seconds:
            self.queue_wait.observe(max(0.0, seconds))
        self.outcomes.labels("succeeded").inc(size)
        if failed:
            self.outcomes.labels("failed").inc(failed)

    def serve_model(
        self,
        model_id: int,
        name: str,
        version: str,
        registered: str | None,
        served_as: tuple[str, str] = ("tensorflow", "fp32"),
    ) -> None:
        """Name the served model, its runtime and precision (after a switch, only the new one)."""
        runtime, precision = served_as
        self.model_info.clear()
        labels = (str(model_id), name, version, registered or "", runtime, precision)
        self.model_info.labels(*labels).set(1)

    def exposition(self, ready: bool) -> bytes:
        """Return the Prometheus text of this process."""
        self.ready.set(int(ready))
        return generate_latest(self.registry)
