"""Retries for 429 and 503 (and lost connections), honouring Retry-After."""

from __future__ import annotations

import email.utils
import time

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)
from tenacity.wait import wait_base

RETRY_STATUSES = frozenset({429, 502, 503, 504})


class RetryableStatusError(Exception):
    """The server asked to come back later (429) or could not answer now (502-504)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
        self.retry_after = retry_after_seconds(response)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Return the Retry-After header in seconds (a number or an HTTP date), if any."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


class WaitRetryAfter(wait_base):
    """Wait what the server's Retry-After says (capped), else back off exponentially."""

    def __init__(self, fallback: wait_base, cap: float) -> None:
        self.fallback = fallback
        self.cap = cap

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, RetryableStatusError) and error.retry_after is not None:
            return min(error.retry_after, self.cap)
        return min(float(self.fallback(retry_state)), self.cap)


def retrying(attempts: int, max_wait: float) -> Retrying:
    """Return the retry policy: transient statuses and transport errors, then give up."""
    return Retrying(
        retry=retry_if_exception_type((RetryableStatusError, httpx.TransportError)),
        wait=WaitRetryAfter(
            wait_exponential(multiplier=0.5, max=max_wait) + wait_random(0, 0.5), max_wait
        ),
        stop=stop_after_attempt(attempts),
        reraise=True,
    )
