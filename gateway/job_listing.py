"""The job listing's read, and its long poll: `wait_seconds` holds the answer until one of
the named jobs is final, woken by the workers' completion signal (gateway.waiters).

A listing by IDs alone, what clients of one-image jobs poll, is read on the event loop on
PostgreSQL (db.loop_sql); any other listing on a session in a worker thread."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Annotated

import anyio
from fastapi import Query

from core.job_status import FINAL_STATUSES
from core.settings import Settings
from db.jobs import JobState, list_jobs, read_job_states
from db.loop_sql import LoopDatabase
from gateway.deps import SessionOpener
from gateway.pagination import bad_request, encode_job_cursor
from gateway.schemas import JobList
from gateway.views import public_view
from gateway.waiters import CompletionWaiters, wait_until

MAX_WAIT_SECONDS = 30.0

WaitQuery = Annotated[
    float,
    Query(
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="With `ids`: unless one of the named jobs is final already, hold the "
        "answer up to this many seconds until one is (a long poll, woken when workers "
        "finish the jobs' images), then answer with every named job's state either way. "
        f"0 (the default) answers at once; at most {MAX_WAIT_SECONDS:g}. When this gateway "
        "already holds its limit of waiting listings, it answers at once.",
    ),
]


@dataclass(frozen=True)
class Listing:
    """What one listing asks for, checked."""

    tenant: str
    ids: list[uuid.UUID] | None
    limit: int
    before: tuple[datetime, uuid.UUID] | None
    statuses: list[str] | None
    created_after: datetime | None
    created_before: datetime | None


def read_listing(open_session: SessionOpener, settings: Settings, listing: Listing) -> JobList:
    """Read one page of the tenant's jobs (or the named ones) with their counts."""
    limit = len(listing.ids) if listing.ids else listing.limit
    with open_session() as session:
        jobs = list_jobs(
            session=session,
            tenant=listing.tenant,
            ids=listing.ids,
            limit=limit,
            before=listing.before,
            statuses=listing.statuses,
            created_after=listing.created_after,
            created_before=listing.created_before,
        )
        states = read_job_states(jobs, session=session)
    full = listing.ids is None and len(jobs) == limit
    return page_of(states, settings, encode_job_cursor(jobs[-1]) if full else None)


def page_of(states: list[JobState], settings: Settings, next_cursor: str | None) -> JobList:
    """Return the listing's answer for the jobs' states."""
    return JobList(jobs=[public_view(state, settings) for state in states], next_cursor=next_cursor)


def by_ids_alone(listing: Listing) -> list[uuid.UUID] | None:
    """Return the listing's IDs when they are all it asks by (no filter, no cursor)."""
    filtered = listing.statuses or listing.created_after or listing.created_before
    return None if filtered or listing.before else listing.ids


def reader(
    database: LoopDatabase | None,
    open_session: SessionOpener,
    settings: Settings,
    listing: Listing,
) -> Callable[[], Awaitable[JobList]]:
    """Return how to read the listing: on the event loop when it is by IDs alone and the
    database is PostgreSQL, else on a session in a worker thread."""
    ids = by_ids_alone(listing)
    if database is None or not ids:
        read = partial(read_listing, open_session, settings, listing)
        return partial(anyio.to_thread.run_sync, read)

    async def read_on_loop() -> JobList:
        states = await database.read_job_states(listing.tenant, ids)
        return page_of(states, settings, None)

    return read_on_loop


def any_final(page: JobList) -> bool:
    """Whether the page has a final job, or no job at all (nothing to wait for)."""
    return not page.jobs or any(job.status in FINAL_STATUSES for job in page.jobs)


async def answer_listing(
    read: Callable[[], Awaitable[JobList]],
    waiters: CompletionWaiters,
    listing: Listing,
    wait_seconds: float,
) -> JobList:
    """Read the listing with `read` (`reader`'s) at once, or, with `wait_seconds`, when one
    of its jobs is final or the time is up; no thread is held while it waits."""
    if not wait_seconds:
        return await read()
    if listing.ids is None:
        raise bad_request("wait_seconds waits for the jobs named in ids: send ids too")
    deadline = time.monotonic() + wait_seconds
    with waiters.slot("listing") as admitted:
        if not admitted:  # no place to wait here: the client's next poll is the wait
            return await read()
        await waiters.start()
        # Registered before the first read, so a job finishing in between still wakes it.
        with waiters.expect(*(str(job_id) for job_id in listing.ids)) as finished:
            page = await read()
            if any_final(page):
                return page
            return await wait_until(waiters, finished, deadline, read, any_final)
