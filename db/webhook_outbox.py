"""The sender's side of webhook events: take due ones under a lease, log each attempt."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import EventStatus, TenantWebhook, WebhookAttempt, WebhookEvent, utc_now


@dataclass(frozen=True)
class DueEvent:
    """An event this sender now holds: what to send, where, signed with which secret."""

    id: uuid.UUID
    url: str
    payload: dict[str, Any]
    secret: str | None
    attempts: int
    deliver_until: datetime


@dataclass(frozen=True)
class AttemptResult:
    """How one delivery attempt ended."""

    status_code: int | None
    error: str | None
    duration_ms: float

    @property
    def delivered(self) -> bool:
        """Whether the receiver acknowledged the event (any 2xx)."""
        return self.status_code is not None and 200 <= self.status_code < 300


def claim_due(
    limit: int, *, session: Session, lease_seconds: float, retry_seconds: float
) -> list[DueEvent]:
    """Take up to `limit` pending events that are due, pushing their next attempt past
    the lease so that no other sender takes them meanwhile (rows being taken are skipped).

    An event's retry window starts at its first send, or at the first after a redeliver.
    """
    now = utc_now()
    statement = (
        select(WebhookEvent, TenantWebhook.secret)
        .outerjoin(TenantWebhook, TenantWebhook.tenant == WebhookEvent.tenant)
        .where(WebhookEvent.status == EventStatus.PENDING, WebhookEvent.next_attempt_at <= now)
        .order_by(WebhookEvent.next_attempt_at)
        .limit(limit)
        .with_for_update(of=WebhookEvent, skip_locked=True)
    )
    rows = session.execute(statement).all()
    lease = now + timedelta(seconds=lease_seconds)
    due = []
    for event, secret in rows:
        until = event.deliver_until or now + timedelta(seconds=retry_seconds)
        event.next_attempt_at, event.deliver_until = lease, until
        due.append(DueEvent(event.id, event.url, event.payload, secret, event.attempts, until))
    session.flush()
    return due


def finish_attempt(
    event: DueEvent,
    result: AttemptResult,
    *,
    session: Session,
    worker_id: str,
    retry_at: datetime | None,
) -> None:
    """Log an attempt and move its event on: delivered, retried at `retry_at`, or failed."""
    now = utc_now()
    session.add(
        WebhookAttempt(
            event_id=event.id,
            attempted_at=now,
            status_code=result.status_code,
            error=result.error,
            duration_ms=result.duration_ms,
            worker_id=worker_id,
        )
    )
    if result.delivered:
        values: dict[str, Any] = {"status": EventStatus.DELIVERED, "delivered_at": now}
    elif retry_at is None:
        values = {"status": EventStatus.FAILED}
    else:
        values = {"next_attempt_at": retry_at}
    error = None if result.delivered else (result.error or f"HTTP {result.status_code}")
    session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.id == event.id)
        .values(attempts=WebhookEvent.attempts + 1, last_error=error, **values)
        .execution_options(synchronize_session=False)
    )
