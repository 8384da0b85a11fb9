"""Failed key lookups per client address, counted in memory so that a flood of made-up keys
cannot turn into a flood of database lookups.

A token bucket per address holds `per_minute` lookups that found no key and refills at
`per_minute` a minute; once it is empty, keys this process has not seen valid get 429
before any lookup. Missing headers and keys already cached (valid or not) cost no lookup
and spend nothing. State lives in the event loop's thread: no lock.
"""

from __future__ import annotations

import math
import time

MAX_CLIENTS = 10_000


class FailureThrottle:
    """A token bucket per client address, spent by key lookups that found no key."""

    def __init__(self, per_minute: int, max_clients: int = MAX_CLIENTS) -> None:
        self.capacity = float(per_minute)
        self.refill_per_second = per_minute / 60.0
        self._max = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # address: (tokens, when)

    def _tokens(self, address: str, now: float) -> float:
        tokens, when = self._buckets.get(address, (self.capacity, now))
        return min(self.capacity, tokens + (now - when) * self.refill_per_second)

    def retry_after(self, address: str) -> int | None:
        """Return the seconds until the address may cause a lookup again, or None if now."""
        if not self.capacity:
            return None
        tokens = self._tokens(address, time.monotonic())
        if tokens >= 1:
            return None
        return max(1, math.ceil((1 - tokens) / self.refill_per_second))

    def spend(self, address: str) -> bool:
        """Count a failed lookup; return whether the address has just run out."""
        if not self.capacity:
            return False
        if len(self._buckets) >= self._max and address not in self._buckets:
            self._buckets.clear()  # rare (one entry per attacking address): each starts full
        now = time.monotonic()
        tokens = self._tokens(address, now) - 1
        self._buckets[address] = (tokens, now)
        return tokens < 1 <= tokens + 1
