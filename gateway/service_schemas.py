"""Wire schemas of the service itself: probes, metrics, served models and workers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from core.model_card import ModelCard


class WorkersReady(BaseModel):
    """How many workers are ready, serve a model and sent a heartbeat lately."""

    ready: int
    seen_within_seconds: float
    description: str


class Health(BaseModel):
    """Liveness or readiness, with a check per dependency and (readiness) the workers."""

    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(default_factory=dict)
    workers: WorkersReady | None = None


class LatencyPercentiles(BaseModel):
    """Percentiles of one latency, in milliseconds (null before the first result)."""

    p50: float | None
    p95: float | None
    p99: float | None


class ModelCount(BaseModel):
    """How many results one model version produced."""

    model_name: str
    model_version: str
    items: int


class MetricsPublic(BaseModel):
    """Service-wide aggregates computed in the database over all workers."""

    jobs_total: int = Field(
        description="Jobs created (one a submission; items added to an open job count no new job)."
    )
    items_total: int
    items_by_status: dict[str, int]
    avg_inference_latency_ms: float | None
    latency_ms: dict[str, LatencyPercentiles] = Field(description="inference, queue and total.")
    throughput_per_second: float = Field(
        description="Results written a second, averaged over the last "
        "`throughput_window_seconds` (60 s), not since the start."
    )
    throughput_window_seconds: int = Field(
        description="The window `throughput_per_second` averages over, in seconds."
    )
    queue_depth: int = Field(description="Items queued and not yet claimed by a worker.")
    items_by_model: list[ModelCount]


class ServedModelPublic(ModelCard):
    """A model workers served: its card, where it came from, and who serves it now."""

    id: int = Field(description="The model's row; results name it as model_id.")
    registered_name: str | None = Field(description="MLflow registered model, if any.")
    registered_version: str | None = Field(description="MLflow model version, if any.")
    run_id: str | None = Field(description="MLflow run that produced the model, if known.")
    runtime: str = Field(description="What runs the model in the worker: tensorflow or litert.")
    precision: str = Field(description="Precision of the file the worker runs: fp32 or int8.")
    first_loaded_at: datetime
    live_workers: int = Field(description="Ready workers serving it, seen lately.")


class WorkerPublic(BaseModel):
    """A worker process as its last heartbeat left it (an operator view)."""

    id: str
    host: str
    pid: int
    state: Literal["loading", "ready", "draining", "stopped", "failed"]
    live: bool = Field(description="Whether its last heartbeat is recent.")
    model_id: int | None
    model_name: str | None
    model_version: str | None
    started_at: datetime
    last_seen_at: datetime
    batches: int
    items: int
    error: str | None


class MetricsBucket(BaseModel):
    """The tenant's results written in one time bucket."""

    start: datetime = Field(description="When the bucket starts (UTC); it lasts `step_seconds`.")
    results: int = Field(description="Results written in the bucket.")
    throughput_per_second: float = Field(description="`results` / `step_seconds`.")
    total_ms_mean: float | None = Field(description="Mean upload-to-result time; null if none.")
    total_ms_p95: float | None = Field(description="95th percentile of the same; null if none.")
    inference_ms_mean: float | None = Field(description="Mean share of batch model time.")


class MetricsHistory(BaseModel):
    """Throughput and latency over time, oldest bucket first, empty buckets included."""

    minutes: int
    step_seconds: int
    buckets: list[MetricsBucket]
