"""The completion signal: workers announce the jobs whose items just finished.

`POST /predict` waits on it instead of polling the database. It travels over Redis pub/sub
on the broker's server when the broker is Redis (compose, Cloud Run); the embedded folder
queue has no such channel, and waiters there fall back to reading the database. The signal
only wakes waiters early: the database stays the truth, so a lost message costs a waiter
its timeout, never a result.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Any

from core.settings import Settings

logger = logging.getLogger(__name__)

CHANNEL = "inferq:items-finished"


def signal_url(settings: Settings) -> str | None:
    """Return the Redis URL the signal travels on, or None without a Redis broker."""
    url = settings.resolved_broker_url
    return url if url.startswith(("redis://", "rediss://")) else None


def encode_job_ids(job_ids: Iterable[uuid.UUID]) -> str:
    """Return the message body: job IDs separated by commas."""
    return ",".join(sorted({str(job_id) for job_id in job_ids}))


def decode_job_ids(body: bytes | str) -> list[str]:
    """Return the job IDs of a message body."""
    text = body.decode() if isinstance(body, bytes) else body
    return [part for part in text.split(",") if part]


class CompletionAnnouncer:
    """Publishes finished job IDs after the results commit; best effort, never raises."""

    def __init__(self, url: str | None) -> None:
        self._url = url
        self._client: Any = None

    def announce(self, job_ids: Iterable[uuid.UUID]) -> None:
        """Tell waiting gateways that items of these jobs finished."""
        if self._url is None:
            return
        body = encode_job_ids(job_ids)
        if not body:
            return
        try:
            if self._client is None:
                import redis

                self._client = redis.Redis.from_url(self._url, socket_timeout=2)
            self._client.publish(CHANNEL, body)
        except Exception as exc:  # waiters read the database at their deadline anyway
            logger.warning("completion signal not sent: %s", type(exc).__name__)
            self._client = None
