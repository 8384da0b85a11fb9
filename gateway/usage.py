"""In-process views that keep admission off the database's hot path.

`TimedCache` remembers recent lookups for a while: which tenant a key hash belongs to for
`key_cache_seconds`, so a revoked key is refused within that time, and a tenant's rules
for `rules_cache_seconds` (gateway.loop_intake). `UsageLedger` counts the requests this process
admits and learns everyone's totals at its next refresh (at most one database round trip
a second, `admission_refresh_seconds`): a tenant's rate is its total at the last refresh
plus what this process admitted since, so with N gateway instances a tenant may overshoot
its limit by what the other N-1 admitted within one refresh interval. Unfinished items and
queue depth are read at the same refresh, plus the requests this process admitted since.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from db.quotas import WINDOW_SECONDS, UnfinishedWork

K = TypeVar("K")
V = TypeVar("V")


class TimedCache(Generic[K, V]):
    """Values of recent lookups, each trusted for the cache's time to live (a value may be
    None: a key that was not valid)."""

    MISSING: Final = object()  # what `get` answers for a key it does not know (or no longer trusts)

    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: dict[K, tuple[V, float]] = {}

    def get(self, key: K) -> V | object:
        """Return the cached value, or TimedCache.MISSING."""
        entry = self._entries.get(key)
        if entry is None or entry[1] < time.monotonic():
            return TimedCache.MISSING
        return entry[0]

    def put(self, key: K, value: V) -> None:
        """Remember a lookup for the cache's time to live (not at all with 0)."""
        if self._ttl <= 0:
            return
        if len(self._entries) >= self._max:
            self._entries.clear()  # rare: cheaper than an LRU, and lookups refill it
        self._entries[key] = (value, time.monotonic() + self._ttl)


@dataclass
class RateCount:
    """A tenant's requests in one window: the shared total last seen, plus ours since."""

    window: int
    seen: int = 0
    unflushed: int = 0


class UsageLedger:
    """Request counts and unfinished work as this process knows them."""

    def __init__(self, refresh_seconds: float) -> None:
        self._refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        self._rates: dict[str, RateCount] = {}
        self._work = UnfinishedWork()
        self._added: dict[str, int] = {}
        self._refreshed_at = -math.inf

    def count_request(self, tenant: str, now: float) -> None:
        """Count a request of the tenant in the current window."""
        window = int(now // WINDOW_SECONDS)
        with self._lock:
            count = self._rates.get(tenant)
            if count is None or count.window != window:
                count = self._rates[tenant] = RateCount(window)
            count.unflushed += 1

    def requests(self, tenant: str, now: float) -> tuple[int, int]:
        """Return the tenant's requests this window as far as known, and its seconds left."""
        window = int(now // WINDOW_SECONDS)
        with self._lock:
            count = self._rates.get(tenant)
            total = count.seen + count.unflushed if count and count.window == window else 0
        return total, max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))

    def note_added(self, tenant: str) -> None:
        """Remember that a request adding images was admitted since the last refresh."""
        with self._lock:
            self._added[tenant] = self._added.get(tenant, 0) + 1

    def unfinished(self, tenant: str) -> int:
        """Return the tenant's unfinished items as last counted, plus admissions since."""
        with self._lock:
            return self._work.per_tenant.get(tenant, 0) + self._added.get(tenant, 0)

    def queued(self) -> int:
        """Return the service-wide queue as last counted, plus admissions since."""
        with self._lock:
            return self._work.queued + sum(self._added.values())

    def stale(self) -> bool:
        """Whether the shared counts are older than the refresh interval."""
        return time.monotonic() - self._refreshed_at >= self._refresh_seconds

    def take_unflushed(self, now: float) -> tuple[int, dict[str, int]]:
        """Return this window and the requests counted here since the last flush."""
        window = int(now // WINDOW_SECONDS)
        with self._lock:
            deltas = {  # zeros too: the flush reads back every active tenant's total
                tenant: count.unflushed
                for tenant, count in self._rates.items()
                if count.window == window
            }
            for tenant in deltas:
                self._rates[tenant].unflushed = 0
        return window, deltas

    def apply(self, window: int, totals: dict[str, int], work: UnfinishedWork) -> None:
        """Take the shared totals and unfinished counts read at a refresh."""
        with self._lock:
            for tenant, total in totals.items():
                count = self._rates.get(tenant)
                if count is not None and count.window == window:
                    count.seen = total
            self._rates = {t: c for t, c in self._rates.items() if c.window >= window}
            self._work = work
            self._added = {}
            self._refreshed_at = time.monotonic()

    def give_back(self, deltas: dict[str, int], window: int) -> None:
        """Put back counts a failed flush could not store."""
        with self._lock:
            for tenant, n in deltas.items():
                count = self._rates.get(tenant)
                if count is not None and count.window == window:
                    count.unflushed += n

    @property
    def refreshing(self) -> threading.Lock:
        """Held while one thread refreshes, so others go on with the last counts."""
        return self._refreshing
