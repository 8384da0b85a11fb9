"""The one source of configuration: environment variables prefixed INFERQ_ and `.env`."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.webhook_target import AllowList

DEFAULT_DATA_DIR = Path(".inferq")


class RetentionOverride(BaseModel):
    """One tenant's retention, where it differs from the service-wide settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    blob_hours: float | None = Field(None, ge=0)
    result_days: float | None = Field(None, gt=0)


class Settings(BaseSettings):
    """Every knob of inferq; defaults run everything on one machine with no servers."""

    model_config = SettingsConfigDict(
        env_prefix="INFERQ_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
    )

    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Local folder for the embedded defaults.")
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite in data_dir.")
    broker_url: str = Field("", description="Celery broker URL; empty means a local folder queue.")
    storage_url: str = Field("", description="fsspec URL for image blobs; empty means data_dir.")
    model_uri: str = Field(
        "models/default",
        description="Model the workers serve: a local directory or models:/<name>@<alias>.",
    )
    mlflow_tracking_uri: str = Field(
        "sqlite:///mlflow.db",
        description="MLflow tracking and registry store; default a SQLite file in the repo.",
    )

    max_batch_size: int = Field(64, ge=1, le=1024, description="Most items a model batch holds.")
    max_batch_wait_ms: float = Field(
        5.0, ge=0, le=1000, description="How long an idle worker waits for a batch to fill."
    )
    max_drain_seconds: float = Field(
        30.0, gt=0, description="How long one wake-up keeps claiming batches while work waits."
    )
    decode_threads: int = Field(
        0, ge=0, description="Threads decoding the next batch; 0 means half the usable CPUs."
    )
    max_decode_bytes: int = Field(
        1024**3, ge=1, description="Most bytes a worker's decode threads hold; bigger images alone."
    )
    lease_seconds: int = Field(120, ge=5, description="How long a claimed item stays claimed.")
    sweep_interval_seconds: int = Field(30, ge=1, description="How often the sweeper runs.")
    stale_queued_seconds: int = Field(
        300, ge=1, description="Republish queued items not picked up for this long."
    )
    max_attempts: int = Field(3, ge=1, description="Claims before an item is failed for good.")
    priority_ageing_seconds: float = Field(
        300.0, gt=0, description="Waiting this long raises a queued item's priority one level."
    )
    interactive_max_items: int = Field(
        8, ge=0, description="A closed job this small, asking no priority, is interactive."
    )
    embedded_sweeper: bool = Field(True, description="Run the sweeper inside each worker.")
    visibility_timeout_seconds: int = Field(
        600, ge=1, description="Broker redelivery delay for unacknowledged tasks."
    )
    task_events: bool = Field(
        False, description="Send Celery task events (for Flower); a few Redis messages a task."
    )
    worker_id: str = Field("", description="Name recorded on results; empty means host:pid.")
    health_port: int | None = Field(
        None,
        validation_alias=AliasChoices("INFERQ_HEALTH_PORT", "PORT"),
        description="Worker health endpoint port (Cloud Run sets PORT); none when unset.",
    )
    tf_threads: int = Field(0, ge=0, description="TensorFlow threads; 0 means usable CPUs.")
    worker_nice: int = Field(
        10, ge=0, le=19, description="CPU niceness a worker adds to itself; 0 leaves it as started."
    )
    runtime: Literal["auto", "tensorflow", "litert"] = Field(
        "auto",
        description="What runs the model: tensorflow (model.keras), litert (.tflite with "
        "XNNPACK), or auto: the fastest file the model directory offers and the worker has.",
    )
    precision: Literal["auto", "fp32", "int8"] = Field(
        "auto", description="Which precision to serve: fp32, int8, or auto (int8 when offered)."
    )
    litert_threads: int = Field(
        0, ge=0, le=256, description="LiteRT (XNNPACK) threads; 0 means usable CPUs."
    )
    model_poll_seconds: float = Field(
        30, ge=0, description="How often workers check a models:/ alias; 0 turns it off."
    )
    fail_on_input_warnings: bool = Field(
        False,
        description="Fail an image unlike the training images (grayscale, other scale) with "
        "the reason, instead of scoring it with a warning.",
    )
    heartbeat_seconds: float = Field(
        5, gt=0, description="How often a worker records itself in the workers table."
    )
    worker_stale_seconds: float = Field(
        30, gt=0, description="A worker unseen this long is not counted as ready."
    )
    operator_tenants: str = Field(
        "", description="Comma-separated tenants whose keys may see workers (GET /v1/workers)."
    )

    max_upload_bytes: int = Field(32 * 1024 * 1024, ge=1, description="Largest request body.")
    max_image_bytes: int = Field(20 * 1024 * 1024, ge=1, description="Largest single image.")
    max_files_per_request: int = Field(1000, ge=1, description="Most file parts a request.")
    max_image_pixels: int = Field(
        89_478_485,
        ge=1,
        le=89_478_485,  # Pillow's own guard (Image.MAX_IMAGE_PIXELS): more could not be read
        description="Decompression-bomb guard: most pixels an image may have (at most the "
        "default, Pillow's own guard).",
    )
    predict_timeout_seconds: float = Field(
        10.0, gt=0, description="How long POST /predict waits before answering 202."
    )
    max_archive_members: int = Field(
        10_000, ge=1, description="Most archive entries a request may hold, all archives together."
    )
    max_archive_bytes: int = Field(
        2 * 1024**3, ge=1, description="Most bytes a request's archives may expand to in total."
    )
    max_compression_ratio: float = Field(
        200.0, gt=1, description="Zip-bomb guard: most an archive member may expand, times."
    )
    max_manifest_rows: int = Field(
        100_000, ge=1, description="Most rows a request's manifest may hold."
    )

    upload_chunk_bytes: int = Field(
        8 * 1024 * 1024,
        ge=64 * 1024,
        le=16 * 1024 * 1024,
        description="Chunk size of resumable uploads (POST /v1/uploads); at most 16 MiB.",
    )
    max_chunked_upload_bytes: int = Field(
        10 * 1024**3, ge=1, description="Largest file a resumable upload may declare; 413."
    )
    max_open_uploads_per_tenant: int = Field(
        20, ge=1, description="Resumable uploads a tenant may have open at once; 409 past it."
    )
    max_chunks_in_flight: int = Field(
        8, ge=1, description="Chunk bodies one gateway process reads at once; more get 429."
    )
    upload_expiry_hours: float = Field(
        24,
        gt=0,
        description="Hours an open upload may go without a chunk before it is purged, and a"
        " completed one holds its blob for slide jobs to name it.",
    )

    max_header_bytes: int = Field(
        32 * 1024, ge=1024, description="Largest request head (request line and headers); 431."
    )
    max_header_count: int = Field(100, ge=8, description="Most headers a request may send; 431.")
    header_timeout_seconds: float = Field(
        10.0, gt=0, description="Time a client has to send a request's whole head; 408."
    )
    body_timeout_seconds: float = Field(
        30.0, gt=0, description="Longest pause between two pieces of a request body; 408."
    )

    auth_enabled: bool = Field(
        True,
        description="Require an API key on every route but probes, docs and /metrics; demo: false.",
    )
    rate_limit_per_minute: int = Field(
        6000, ge=0, description="Requests a tenant may make a minute; 0 means no limit."
    )
    admission_refresh_seconds: float = Field(
        1.0, gt=0, le=60, description="How stale the gateway's request and work counts may be."
    )
    key_cache_seconds: float = Field(
        5.0, ge=0, le=300, description="How long a gateway trusts a key it looked up (revocation)."
    )
    rules_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=300,
        description="How long a gateway trusts a tenant's priorities and default callback it "
        "read for a one-image job (a change reaches it within this).",
    )
    auth_failures_per_minute: int = Field(
        60,
        ge=0,
        description="Unknown-key lookups a client address may cause a minute; then 429. 0: off.",
    )
    max_predict_waiters: int = Field(
        256,
        ge=1,
        description="POST /predict calls waiting at once per gateway; more get 429. Job "
        "listings waiting with wait_seconds have as many places of their own; past them a "
        "listing answers at once.",
    )
    max_unfinished_items_per_tenant: int = Field(
        50_000, ge=0, description="Queued or running images a tenant may have; 0: no limit."
    )
    max_queue_depth: int = Field(
        100_000, ge=0, description="Queued items service-wide before submissions get 429."
    )

    blob_retention_hours: float = Field(
        24, ge=0, description="Hours a final job's images are kept; 0: deleted at the next purge."
    )
    result_retention_days: float = Field(
        30, gt=0, description="Days a final job's rows (items, results, manifest) are kept."
    )
    tenant_retention: dict[str, RetentionOverride] = Field(
        default_factory=dict,
        description='Per-tenant retention, JSON: {"lab": {"blob_hours": 2, "result_days": 7}}.',
    )
    purge_interval_seconds: float = Field(
        3600, ge=0, description="How often each worker purges expired images and jobs; 0: never."
    )
    purge_batch_size: int = Field(
        500, ge=1, description="Most blobs or rows a purge deletes in one transaction."
    )
    webhook_allow: str = Field(
        "",
        description="Private hosts, addresses or CIDRs webhooks may reach (http too); comma list.",
    )
    webhook_timeout_seconds: float = Field(
        5.0, gt=0, le=30, description="How long a webhook receiver has to connect and answer."
    )
    webhook_retry_seconds: float = Field(
        86_400.0, gt=0, description="How long a webhook event is retried before it is failed."
    )
    webhook_backoff_seconds: float = Field(
        10.0, gt=0, description="First webhook retry delay; doubled each attempt, with jitter."
    )
    webhook_poll_seconds: float = Field(
        1.0, gt=0, le=60, description="How often a worker's webhook sender looks for due events."
    )
    embedded_webhooks: bool = Field(True, description="Send webhooks from each worker.")

    slide_sources: dict[str, list[str]] = Field(
        default_factory=dict,
        description='Where each tenant may name slides, JSON: {"lab": ["gs://lab-slides/", '
        '"/mnt/scans/lab/"]}; a tenant not listed names none.',
    )
    slide_block_tiles: int = Field(
        256, ge=1, le=4096, description="Tiles of a slide claimed, run and recorded together."
    )
    slide_min_tissue: float = Field(
        0.5, ge=0, le=1, description="Share of a tile that must be tissue for it to be run."
    )
    slide_tile_overlap: int = Field(
        0, ge=0, description="Pixels (at the model's scale) neighbouring slide tiles share."
    )
    slide_thumbnail_px: int = Field(
        2048, ge=64, le=8192, description="Longest side of the thumbnail the tissue mask uses."
    )
    slide_min_object_px: int = Field(
        64, ge=0, description="Tissue specks smaller than this (thumbnail pixels) are dropped."
    )
    slide_open_handles: int = Field(
        8, ge=1, description="Open slide files a worker process keeps for reading tiles."
    )

    api_url: str = Field("http://127.0.0.1:8000", description="Gateway URL the CLI talks to.")
    api_key: SecretStr = Field(
        SecretStr(""), description="API key the CLI sends as a Bearer token; empty sends none."
    )
    client_max_request_bytes: int = Field(
        31 * 1024 * 1024, ge=4096, description="The CLI splits uploads into requests this small."
    )

    log_level: str = Field("INFO", description="Root log level.")
    log_json: bool = Field(True, description="Log one JSON object a line.")
    log_predictions: bool = Field(
        False, description="Workers log one line per prediction (job, item, model, label)."
    )

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @property
    def resolved_database_url(self) -> str:
        """Return the database URL, defaulting to a SQLite file under data_dir."""
        return self.database_url or f"sqlite:///{self.data_dir / 'inferq.db'}"

    @property
    def resolved_broker_url(self) -> str:
        """Return the broker URL, defaulting to kombu's filesystem transport."""
        return self.broker_url or "filesystem://"

    @property
    def broker_folder(self) -> Path:
        """Return the folder the server-free filesystem transport exchanges messages in."""
        return self.data_dir / "broker"

    @property
    def resolved_storage_url(self) -> str:
        """Return the blob storage URL, defaulting to a folder under data_dir."""
        return self.storage_url or str(self.data_dir / "blobs")

    @property
    def operators(self) -> frozenset[str]:
        """Return the tenants whose keys may see operator views (workers, hosts)."""
        return frozenset(name.strip() for name in self.operator_tenants.split(",") if name.strip())

    @property
    def resolved_worker_id(self) -> str:
        """Return the name this worker process records on its results."""
        return self.worker_id or f"{os.uname().nodename}:{os.getpid()}"

    @property
    def webhook_allow_list(self) -> AllowList:
        """Return the private hosts and networks an operator opened to webhooks."""
        return AllowList.parse(self.webhook_allow)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment and `.env`."""
    return Settings()
