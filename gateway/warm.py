"""The gateway's warm-up: what the first requests load, loaded once, then frozen.

The start loads only what the first `/readyz` needs (a fast cold start). The first requests
then load the rest: Pillow and numpy with the first image, Celery, kombu and the Redis
client with the first wake-up or `/predict`, fsspec (and the GCS client) with the first blob:
about 70,000 objects that every full collection would walk again, 25-50 ms each time, with
every request and probe waiting (core.heap). When the first request is admitted, one thread
of its own loads all of that, then settles the heap, so what later requests load is frozen
with the start. What those requests hold at that moment is frozen too: a few objects,
once.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from functools import partial

from core.heap import settle
from core.storage import BlobStore
from gateway.publisher import Publisher

logger = logging.getLogger(__name__)

# Loaded on first use by the image checks (core.preprocessing) and the completion waiters.
FIRST_USE_MODULES = ("core.preprocessing", "redis.asyncio")


class WarmUp:
    """Starts the warm-up once, on the first admitted request, when armed; settles the heap
    after it. `create_gateway` (cli.services) arms it: an app built in process (the tests)
    leaves its host's heap alone."""

    def __init__(self, publisher: Publisher, store: BlobStore) -> None:
        self._publisher = publisher
        self._store = store
        self._lock = threading.Lock()
        self.armed = False
        self.thread: threading.Thread | None = None

    def begin(self) -> None:
        """Start the warm-up, unless unarmed or started already (checked without a lock)."""
        if self.thread is not None or not self.armed:
            return
        with self._lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="inferq-warm-up", daemon=True)
                self.thread.start()

    def _run(self) -> None:
        steps: list[tuple[str, Callable[[], object]]] = [
            *((name, partial(importlib.import_module, name)) for name in FIRST_USE_MODULES),
            ("the Celery app", lambda: self._publisher.celery),
            ("the blob store", lambda: self._store.filesystem),  # gs:// reads credentials
        ]
        for what, step in steps:
            try:
                step()
            except Exception as exc:  # the request that needs it reports the same problem
                logger.warning("warm-up skipped %s: %s: %s", what, type(exc).__name__, exc)
        settle(release_frozen=True)  # also collects the garbage the start froze
