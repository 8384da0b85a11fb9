"""The webhook sender: a worker thread that delivers due events from their table.

Each event is sent until its receiver answers 2xx, retried with exponential backoff and
jitter (each delay drawn between half and all of its doubling step) until its retry window
closes, every attempt logged as a row. Delivery is at least once: a receiver deduplicates
by the event ID.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from datetime import datetime, timedelta

from core.settings import Settings
from core.webhook_target import TargetRefusedError, check_target
from db.models import utc_now
from db.session import get_session
from db.webhook_outbox import AttemptResult, DueEvent, claim_due, finish_attempt
from worker.webhook_post import post_event, signed_headers

logger = logging.getLogger(__name__)

EVENTS_PER_ROUND = 20
MAX_BACKOFF_SECONDS = 3600.0


def retry_time(event: DueEvent, settings: Settings, now: datetime) -> datetime | None:
    """Return when to try a failed event again, or None once its retry window is over."""
    ceiling = min(settings.webhook_backoff_seconds * 2**event.attempts, MAX_BACKOFF_SECONDS)
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    when = now + timedelta(seconds=delay)
    return when if when <= event.deliver_until else None


def deliver(event: DueEvent, settings: Settings) -> AttemptResult:
    """Check the event's target again (DNS may have moved) and POST it, signed."""
    if event.secret is None:
        return AttemptResult(None, "the tenant has no webhook secret", 0.0)
    try:
        target = check_target(event.url, settings.webhook_allow_list)
    except TargetRefusedError as exc:
        return AttemptResult(None, f"refused: {exc}", 0.0)
    body = json.dumps(event.payload, separators=(",", ":"), sort_keys=True).encode()
    headers = signed_headers(str(event.id), event.secret, body)
    return post_event(target, body, headers, settings.webhook_timeout_seconds)


def send_due(settings: Settings) -> int:
    """Deliver the events that are due now; return how many were attempted."""
    url = settings.resolved_database_url
    # Longer than a round of sends (each attempt is cut off at the timeout).
    lease = EVENTS_PER_ROUND * settings.webhook_timeout_seconds + 30
    with get_session(url) as session:
        due = claim_due(
            EVENTS_PER_ROUND,
            session=session,
            lease_seconds=lease,
            retry_seconds=settings.webhook_retry_seconds,
        )
    for event in due:
        result = deliver(event, settings)
        retry_at = None if result.delivered else retry_time(event, settings, utc_now())
        with get_session(url) as session:
            finish_attempt(
                event,
                result,
                session=session,
                worker_id=settings.resolved_worker_id,
                retry_at=retry_at,
            )
        log_attempt(event, result, retry_at)
    return len(due)


def log_attempt(event: DueEvent, result: AttemptResult, retry_at: datetime | None) -> None:
    """Log how an attempt went, with the event and its next step."""
    outcome = "delivered" if result.delivered else ("retrying" if retry_at else "failed")
    logger.info(
        "webhook %s",
        outcome,
        extra={
            "event_id": str(event.id),
            "job_id": str(event.payload.get("job", {}).get("id")),
            "status_code": result.status_code,
            "error": result.error,
            "duration_ms": round(result.duration_ms, 1),
        },
    )


class WebhookSender(threading.Thread):
    """Runs send_due every poll interval until stopped; errors are logged, never fatal."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(name="inferq-webhooks", daemon=True)
        self._settings = settings
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self._settings.webhook_poll_seconds):
            try:
                while send_due(self._settings) == EVENTS_PER_ROUND and not self.stopped:
                    pass  # a full round: more may be due at once
            except Exception:
                logger.exception("webhook round failed; retrying next interval")

    @property
    def stopped(self) -> bool:
        """Whether stop() was called."""
        return self._stop_event.is_set()

    def stop(self) -> None:
        """Ask the loop to end after the current send."""
        self._stop_event.set()
