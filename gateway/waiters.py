"""Where `POST /predict` and waiting job listings wait: one completion listener per gateway
process, bounded waiters.

The listener subscribes once to the workers' completion channel (core.completion) and
wakes the waiters of the jobs each message names; a waiter then reads what it waits for.
No thread is held while waiting. Without a Redis broker (the embedded defaults) waiters
read the database every `FALLBACK_POLL_SECONDS` instead. `/predict` calls and listings
each have `limit` waiting places, so long polls never take a `/predict` caller's place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import anyio

from core.completion import CHANNEL, decode_job_ids

logger = logging.getLogger(__name__)

T = TypeVar("T")

FALLBACK_POLL_SECONDS = 0.05
RECONNECT_SECONDS = 1.0
SUBSCRIBE_WAIT_SECONDS = 1.0


class CompletionWaiters:
    """Events of jobs that calls wait on, set by the completion listener."""

    def __init__(self, url: str | None, limit: int) -> None:
        self._url = url
        self.limit = limit
        self._counts: Counter[str] = Counter()
        self._events: dict[str, set[asyncio.Event]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._subscribed: asyncio.Event | None = None

    @property
    def signalled(self) -> bool:
        """Whether completions arrive as signals (else waiters read the database)."""
        return self._subscribed is not None and self._subscribed.is_set()

    def count(self, purpose: str = "predict") -> int:
        """Return how many calls of a purpose wait now."""
        return self._counts[purpose]

    @contextlib.contextmanager
    def slot(self, purpose: str = "predict") -> Iterator[bool]:
        """Hold one of the purpose's limited waiting places; yield False when none is free."""
        if self._counts[purpose] >= self.limit:
            yield False
            return
        self._counts[purpose] += 1
        try:
            yield True
        finally:
            self._counts[purpose] -= 1

    @contextlib.contextmanager
    def expect(self, *job_ids: str) -> Iterator[asyncio.Event]:
        """Register interest in jobs (before their items are published, or before their
        state is first read); the event is set whenever a completion names one of them."""
        event = asyncio.Event()
        for job_id in job_ids:
            self._events.setdefault(job_id, set()).add(event)
        try:
            yield event
        finally:
            for job_id in job_ids:
                events = self._events.get(job_id)
                if events is not None:
                    events.discard(event)
                    if not events:
                        del self._events[job_id]

    async def start(self) -> None:
        """Start listening (once) and wait briefly until subscribed."""
        if self._url is None:
            return
        listening = self._listener is not None and not self._listener.done()
        if listening and self.signalled:
            return  # the usual case: no timer to arm
        if not listening:
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
            for event in self._events.get(job_id, ()):
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
                for events in self._events.values():
                    for event in events:  # waiters read the database rather than sleep
                        event.set()
                await asyncio.sleep(RECONNECT_SECONDS)
            finally:
                await client.aclose()


async def wait_until(
    waiters: CompletionWaiters,
    event: asyncio.Event,
    deadline: float,
    read: Callable[[], Awaitable[T]],
    finished: Callable[[T], bool],
) -> T:
    """Read each time the event is set, or every `FALLBACK_POLL_SECONDS` while no signals
    arrive, until `finished` holds or the monotonic `deadline` passes; return the last
    read. `read` is awaited: a worker thread's trip, or a query on the event loop."""
    while (remaining := deadline - time.monotonic()) > 0:
        wait = remaining if waiters.signalled else min(remaining, FALLBACK_POLL_SECONDS)
        with anyio.move_on_after(wait):
            await event.wait()
        woken = event.is_set()
        event.clear()
        if woken or not waiters.signalled:
            value = await read()
            if finished(value):
                return value
    return await read()
