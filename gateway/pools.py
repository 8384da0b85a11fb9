"""Thread capacity set apart by purpose, so no caller can starve the probes or admission.

Sync routes share anyio's default pool (`SYNC_ROUTE_THREADS` in gateway.app: four). Admission's
database calls, the readiness probe and Prometheus scrapes each get their own capacity, so a
flood of slow requests on one never queues the others: `/healthz` needs no thread at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio
from anyio import CapacityLimiter

T = TypeVar("T")


class Pools:
    """Capacity limiters made on first use, inside the event loop."""

    def __init__(
        self, admission: int = 16, probes: int = 4, metrics: int = 2, thumbnails: int = 2
    ) -> None:
        self._sizes = {
            "admission": admission,
            "probes": probes,
            "metrics": metrics,
            "thumbnails": thumbnails,
        }
        self._limiters: dict[str, CapacityLimiter] = {}

    def _limiter(self, name: str) -> CapacityLimiter:
        if name not in self._limiters:
            self._limiters[name] = CapacityLimiter(self._sizes[name])
        return self._limiters[name]

    @property
    def admission(self) -> CapacityLimiter:
        """Key lookups and usage refreshes."""
        return self._limiter("admission")

    @property
    def probes(self) -> CapacityLimiter:
        """The readiness probe's database and broker checks."""
        return self._limiter("probes")

    @property
    def metrics(self) -> CapacityLimiter:
        """Prometheus scrapes, which read the database."""
        return self._limiter("metrics")

    @property
    def thumbnails(self) -> CapacityLimiter:
        """Previews decoded for the web page: two at a time bound the memory they hold."""
        return self._limiter("thumbnails")

    @staticmethod
    async def run(limiter: CapacityLimiter, function: Callable[..., T], *args: object) -> T:
        """Run a blocking function in a worker thread under the given capacity."""
        return await anyio.to_thread.run_sync(function, *args, limiter=limiter)
