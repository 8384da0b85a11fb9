"""Tables: jobs, their items (one per image), one result per succeeded item, the models
workers served, the workers themselves, and webhook events with their attempts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use utc_now()")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


DEFAULT_TENANT = "default"  # the tenant of jobs made with auth turned off


def utc_now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


class ItemStatus(StrEnum):
    """Where one image is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Base(DeclarativeBase):
    """Declarative base with a JSON type that works on PostgreSQL and SQLite."""

    type_annotation_map = {dict[str, Any]: JSON, datetime: UTCDateTime}


class Job(Base):
    """One submission: a set of images classified together."""

    __tablename__ = "jobs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant: Mapped[str] = mapped_column(String(64), default=DEFAULT_TENANT, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    closed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    # Retention (db.purge): when the job was found final, and when its images were deleted.
    final_at: Mapped[datetime | None] = mapped_column(index=True)
    images_purged_at: Mapped[datetime | None]
    # Where the job's final-status webhook goes: the submitted one or the tenant's default.
    callback_url: Mapped[str | None] = mapped_column(String(2048))
    # core.priority's rank (0 interactive, 1 normal, 2 bulk), copied onto every item.
    priority: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")


class Item(Base):
    """One image of a job, with its processing state."""

    __tablename__ = "items"
    __table_args__ = (
        Index("ix_items_job_status", "job_id", "status"),
        Index("ix_items_status_lease", "status", "lease_expires_at"),
        Index("ix_items_job_hash", "job_id", "content_hash"),
        # The batch claim walks each tenant's queued items, each priority oldest first
        # (db.claims).
        Index(
            "ix_items_queued_tenant",
            "tenant",
            "priority",
            "created_at",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
        # The purge asks whether a live job still holds a blob (db.purge).
        Index("ix_items_content_hash", "content_hash"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    tenant: Mapped[str] = mapped_column(String(64), default=DEFAULT_TENANT)  # the job's, copied
    priority: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")  # job's
    position: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(1024))
    content_hash: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=ItemStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    published_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    true_label: Mapped[str | None] = mapped_column(String(255))
    patient_id: Mapped[str | None] = mapped_column(String(255))
    slide_id: Mapped[str | None] = mapped_column(String(255))
    attributes: Mapped[dict[str, Any] | None]


class ManifestEntry(Base):
    """One manifest row of a job: metadata for the item(s) with that file name."""

    __tablename__ = "manifest_entries"

    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    filename: Mapped[str] = mapped_column(String(1024), primary_key=True)
    true_label: Mapped[str | None] = mapped_column(String(255))
    patient_id: Mapped[str | None] = mapped_column(String(255))
    slide_id: Mapped[str | None] = mapped_column(String(255))
    attributes: Mapped[dict[str, Any] | None]
    matched: Mapped[bool] = mapped_column(Boolean, default=False)


class IdempotencyKey(Base):
    """A request that changed a job, remembered so that its retry changes nothing."""

    __tablename__ = "idempotency_keys"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    scope: Mapped[str] = mapped_column(String(255))
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    response: Mapped[dict[str, Any]]
    # SHA-256 of the request's parts; NULL for keys stored before fingerprints existed.
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class Result(Base):
    """The one classification of a succeeded item; the primary key makes writes idempotent."""

    __tablename__ = "results"
    __table_args__ = (Index("ix_results_created_at", "created_at"),)

    item_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(255))
    probability: Mapped[float] = mapped_column(Float)
    scores: Mapped[dict[str, Any]]
    model_name: Mapped[str] = mapped_column(String(255))
    model_version: Mapped[str] = mapped_column(String(255))
    queue_ms: Mapped[float] = mapped_column(Float)
    inference_ms: Mapped[float] = mapped_column(Float)  # the item's share of its batch's
    batch_ms: Mapped[float | None] = mapped_column(Float)  # the batch's model time
    batch_size: Mapped[int | None] = mapped_column(Integer)  # images in that batch
    total_ms: Mapped[float] = mapped_column(Float)
    worker_id: Mapped[str] = mapped_column(String(255))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    # Ways the input was unlike the training images (core.input_checks); NULL before 0008.
    warnings: Mapped[list[str] | None] = mapped_column(JSON)


class ServedModel(Base):
    """A model a worker loaded and served: its card and where it came from, once each.

    `fingerprint` (a hash of the card, the registry version, the runtime and the precision)
    makes the upsert idempotent: every worker serving the same model finds the same row.
    """

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[str] = mapped_column(String(255))
    registered_name: Mapped[str | None] = mapped_column(String(255))
    registered_version: Mapped[str | None] = mapped_column(String(64))
    run_id: Mapped[str | None] = mapped_column(String(64))
    data_hash: Mapped[str] = mapped_column(String(64), default="")
    runtime: Mapped[str] = mapped_column(String(32))
    precision: Mapped[str] = mapped_column(String(16), default="fp32", server_default="fp32")
    card: Mapped[dict[str, Any]]
    first_loaded_at: Mapped[datetime] = mapped_column(default=utc_now)


class WorkerState(StrEnum):
    """Where a worker process is in its life."""

    LOADING = "loading"
    READY = "ready"
    DRAINING = "draining"
    STOPPED = "stopped"
    FAILED = "failed"


class Worker(Base):
    """A worker process, as its last heartbeat left it."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"))
    state: Mapped[str] = mapped_column(String(16), default=WorkerState.LOADING)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utc_now)
    last_seen_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    batches: Mapped[int] = mapped_column(Integer, default=0)
    items: Mapped[int] = mapped_column(Integer, default=0)


class ApiKey(Base):
    """An API key of a tenant, stored as a SHA-256 hash with a visible prefix."""

    __tablename__ = "api_keys"

    prefix: Mapped[str] = mapped_column(String(16), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    revoked_at: Mapped[datetime | None]


class RateWindow(Base):
    """How many requests a tenant made in one minute (fixed-window rate limit)."""

    __tablename__ = "rate_windows"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    window: Mapped[int] = mapped_column(Integer, primary_key=True)  # minutes since the epoch
    requests: Mapped[int] = mapped_column(Integer)


class TenantWebhook(Base):
    """A tenant's webhook signing secret and default callback URL."""

    __tablename__ = "tenant_webhooks"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Kept in the clear: signing needs the secret itself, not a hash of it.
    secret: Mapped[str] = mapped_column(String(128))
    default_url: Mapped[str | None] = mapped_column(String(2048))
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class TenantPriority(Base):
    """A tenant's default priority and the most urgent one an operator lets it have."""

    __tablename__ = "tenant_priorities"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    default_priority: Mapped[int | None] = mapped_column(SmallInteger)  # core.priority ranks
    max_priority: Mapped[int | None] = mapped_column(SmallInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class EventStatus(StrEnum):
    """Where a webhook event is in its delivery."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookEvent(Base):
    """One event of a job (its final status) and where its delivery stands.

    The unique (job_id, kind) makes recording idempotent: two workers finishing a job's
    last items at once record one event.
    """

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("job_id", "kind", name="uq_webhook_events_job_kind"),
        Index("ix_webhook_events_due", "status", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    tenant: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(2048))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default=EventStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utc_now)
    deliver_until: Mapped[datetime | None]  # set by the first send (and again by a redeliver)
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class WebhookAttempt(Base):
    """One try at delivering an event: when, the receiver's answer or why it failed."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_events.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(default=utc_now)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Float)
    worker_id: Mapped[str] = mapped_column(String(255))


def table_of(model: type[Base]) -> Table:
    """Return a model's table, for plain INSERTs that skip the ORM's per-row work."""
    return cast(Table, model.__table__)


# The slide tables live in their own module; imported here so that Base.metadata (Alembic,
# the migration check) always holds them.
from db import slide_tables  # noqa: E402, F401
