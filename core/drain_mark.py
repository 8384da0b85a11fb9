"""The drain mark: while a worker drains the queue with room in its batches, wake-ups for a
few items are not sent.

Under one-image load almost every wake-up finds its item already taken by the batch of a
worker that is draining the queue, yet each costs a Celery message on both sides (the
gateway's send, the worker's delivery, QoS bookkeeping and ack). So a draining worker
whose last claim left room in its batch keeps a mark on the broker's Redis holding that
room (`SET <key> <room> PX 2000`, renewed at each claim, dropped when a claim fills a
batch), and the gateway's publisher sends no wake-up for committed items that fit in it:
the draining worker's next claim takes them.

Why no item is left without a worker: the gateway reads the mark after its items have
committed, and a worker drops the mark when its drain ends and then claims once more
(worker.engine). If the gateway read the mark before the drop, its items committed before
that last claim, which takes them; if it read after, it found no mark and published. A
worker that dies while draining leaves its mark for at most `TTL_MS`; the task it was
running is redelivered, and the sweeper wakes a worker whenever queued items have waited
a whole sweep interval (worker.sweeper), whichever comes first.

The key is named after the database, so a gateway and a worker skip wake-ups only when they
share one; any failure to read the mark reads as no mark, and every wake-up is sent. The
folder queue has no Redis, hence no mark.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

logger = logging.getLogger(__name__)

#: How long a mark outlives the claim that set it: a few batches of a slow model. A mark
#: that lapses mid-drain only lets wake-ups through again.
TTL_MS = 2000


def mark_key(database_url: str) -> str:
    """Return the mark's Redis key for the workers of one database."""
    return "inferq:draining:" + hashlib.sha256(database_url.encode()).hexdigest()[:16]


class DrainMark:
    """One process's view of the mark: a worker holds and releases it, a gateway reads it.

    Best effort on Redis errors: a worker that cannot set it gets wake-ups as before, and a
    gateway that cannot read it sends them.
    """

    def __init__(self, redis_url: str | None, database_url: str) -> None:
        self._url = redis_url
        self._key = mark_key(database_url)
        self._client: Any = None
        self._held = False

    def _redis(self) -> Any:
        assert self._url is not None
        if self._client is None:
            import redis

            self._client = redis.Redis.from_url(self._url, socket_timeout=2)
        return self._client

    def hold(self, room: int) -> None:
        """Worker: say this process drains with `room` free places in its next batch; no
        room drops the mark, so wake-ups reach other workers again. Only a process that set
        the mark must look again when its drain ends: whoever set a mark this drops does."""
        if self._url is None:
            return
        try:
            if room > 0:
                self._held = True  # even if Redis fails: the reply may be what was lost
                self._redis().set(self._key, room, px=TTL_MS)
            else:
                self._redis().delete(self._key)
        except Exception as exc:
            logger.warning("drain mark not set: %s", type(exc).__name__)
            self._client = None

    def release(self) -> bool:
        """Worker: drop the mark as a drain ends. Return whether this process held it since
        its last release: then wake-ups may have been skipped, and it must claim once more."""
        held, self._held = self._held, False
        if held and self._url is not None:
            try:
                self._redis().delete(self._key)
            except Exception as exc:  # it lapses within TTL_MS
                logger.warning("drain mark not dropped: %s", type(exc).__name__)
                self._client = None
        return held

    def room(self) -> int:
        """Gateway: the room a draining worker announced, or 0 when none does."""
        if self._url is None:
            return 0
        try:
            value = self._redis().get(self._key)
        except Exception:
            self._client = None
            return 0
        return int(value) if value else 0
