"""Where `POST /predict` waits: one completion listener per gateway process, bounded waiters.

The listener subscribes once to the workers' completion channel (core.completion) and
wakes the waiters of the jobs each message names; a waiter then reads its result once.
No thread is held while waiting. Without a Redis broker (the embedded defaults) waiters
read the database every `FALLBACK_POLL_SECONDS` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from core.completion import CHANNEL, decode_job_ids

logger = logging.getLogger(__name__)

FALLBACK_POLL_SECONDS = 0.05
RECONNECT_SECONDS = 1.0
SUBSCRIBE_WAIT_SECONDS = 1.0


class CompletionWaiters:
    """Events of jobs that `/predict` calls wait on, set by the completion listener."""

    def __init__(self, url: str | None, limit: int) -> None:
        self._url = url
        self.limit = limit
        self.count = 0
        self._events: dict[str, asyncio.Event] = {}
        self._listener: asyncio.Task[None] | None = None
        self._subscribed: asyncio.Event | None = None

    @property
    def signalled(self) -> bool:
        """Whether completions arrive as signals (else waiters read the database)."""
        return self._subscribed is not None and self._subscribed.is_set()

    @contextlib.contextmanager
    def slot(self) -> Iterator[bool]:
        """Hold one of the limited waiting places; yield False when none is free."""
        if self.count >= self.limit:
            yield False
            return
        self.count += 1
        try:
            yield True
        finally:
            self.count -= 1

    @contextlib.contextmanager
    def expect(self, job_id: str) -> Iterator[asyncio.Event]:
        """Register interest in a job before its items are published."""
        event = self._events.setdefault(job_id, asyncio.Event())
        try:
            yield event
        finally:
            self._events.pop(job_id, None)

    async def start(self) -> None:
        """Start listening (once) and wait briefly until subscribed."""
        if self._url is None:
            return
        if self._listener is None or self._listener.done():
            self._subscribed = asyncio.Event()
            self._listener = asyncio.create_task(self._listen(self._subscribed))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), SUBSCRIBE_WAIT_SECONDS)  # type: ignore[union-attr]

    async def stop(self) -> None:
        """Stop the listener."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None

    def _wake(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        for job_id in decode_job_ids(message["data"]):
            event = self._events.get(job_id)
            if event is not None:
                event.set()

    async def _listen(self, subscribed: asyncio.Event) -> None:
        import redis.asyncio as aioredis

        while True:
            client = aioredis.Redis.from_url(self._url)  # type: ignore[arg-type]
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    subscribed.set()
                    async for message in pubsub.listen():
                        self._wake(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                subscribed.clear()
                logger.warning("completion listener lost Redis: %s", type(exc).__name__)
                for event in self._events.values():
                    event.set()  # waiters read the database rather than sleep to the timeout
                await asyncio.sleep(RECONNECT_SECONDS)
            finally:
                await client.aclose()
