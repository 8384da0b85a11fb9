"""One image taken in without leaving the event loop: `POST /predict`'s path, and a plain
one-image `POST /v1/jobs`'s, on PostgreSQL (docs/batching.md, "`/predict` on the event loop").

Under many one-image callers a trip through the thread pool cost the gateway more CPU than
the SQL it carried. Here the part is checked and stored as every upload is (gateway.intake),
on the loop when that is quick, and the job is committed through db.loop_sql. Whatever
needs more (a refused part, an archive, a manifest, a callback) takes the sessions' path on
a worker thread, with the intake already read.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import anyio
from fastapi import Request, UploadFile

from core.file_kinds import HEAD_BYTES, sniff_archive
from core.storage import BlobStore
from db.jobs import NewItem, item_rows, job_values, queued_ids
from db.loop_sql import LoopDatabase
from db.tenant_rules import TenantRules
from gateway.intake.request import Gathered, read_request
from gateway.intake.uploads import Intake
from gateway.priorities import PriorityChoice
from gateway.schemas import JobAccepted
from gateway.submission import describe_added, publish
from gateway.usage import TimedCache

# An image (not an archive) up to this size is checked and stored on the event loop when
# blobs are on a local disk: hashing and writing it takes a fraction of a millisecond, less
# than the trip to a worker thread costs under load. Larger parts, archives (unpacking one
# may take seconds) and stores across a network take a thread.
LOOP_INTAKE_MAX_BYTES = 1 << 20


def loop_database(request: Request) -> LoopDatabase | None:
    """Return the app's event-loop database, or None (the embedded SQLite has none)."""
    database: LoopDatabase | None = request.app.state.loop_database
    return database


async def tenant_rules(request: Request, database: LoopDatabase, tenant: str) -> TenantRules:
    """Return the rules a tenant's new job follows, read at most once in
    `rules_cache_seconds` by this process: a change of its priorities or default callback
    reaches the loop's one-image jobs within that time, and most of them save a round trip.
    (The sessions' path reads them with the job's other statements.)"""
    cache: TimedCache[str, TenantRules] = request.app.state.rules_cache
    rules = cache.get(tenant)
    if isinstance(rules, TenantRules):
        return rules
    rules = await database.read_rules(tenant)
    cache.put(tenant, rules)
    return rules


def quick_to_read(file: UploadFile, store: BlobStore) -> bool:
    """Whether the part is small, not an archive, and bound for a local disk: the loop's
    work."""
    if not store.local or file.size is None or file.size > LOOP_INTAKE_MAX_BYTES:
        return False
    file.file.seek(0)  # a spooled part of this size is in memory
    return sniff_archive(file.file.read(HEAD_BYTES)) is None


async def read_image(request: Request, file: UploadFile) -> Gathered:
    """Check and store one part as every upload is (gateway.intake): on the event loop when
    that is quick, else in a worker thread."""
    state = request.app.state
    read = partial(read_request, [file], None, settings=state.settings, store=state.store)
    if quick_to_read(file, state.store):
        return read()
    return await anyio.to_thread.run_sync(read)


def only_image(intake: Intake) -> NewItem | None:
    """Return the request's image when its part is exactly one acceptable image."""
    if len(intake.items) == 1 and not intake.skipped and intake.items[0].error is None:
        return intake.items[0]
    return None


@dataclass(frozen=True)
class Taken:
    """What the loop made of a request: the job it committed (`accepted`), else what the
    sessions' path takes on with, the intake it read (None if it read none)."""

    accepted: JobAccepted | None = None
    gathered: Gathered | None = None


async def take_on_loop(
    request: Request,
    database: LoopDatabase,
    tenant: str,
    file: UploadFile,
    choose: Callable[[TenantRules], PriorityChoice | None],
    job_id: uuid.UUID,
) -> Taken:
    """Read the tenant's rules (tenant_rules), and unless `choose` declines them (None: the
    job needs the sessions' path), read the part; commit a single acceptable image's
    one-item closed job and publish it.

    The rules come first, as on the sessions' path, so a request the loop declines has
    stored nothing yet. Once the INSERTs are sent, a caller that hangs up no longer stops
    them: a committed item must not wait for the sweeper because its call was cancelled
    before the wake-up.
    """
    settings = request.app.state.settings
    choice = choose(await tenant_rules(request, database, tenant))
    if choice is None:
        return Taken()
    gathered = await read_image(request, file)
    image = only_image(gathered[0])
    if image is None:
        return Taken(gathered=gathered)
    level = choice.resolve(1, closed=True, small=settings.interactive_max_items)
    job = job_values(
        tenant=tenant, closed=True, job_id=job_id, callback_url=None, priority=level.rank
    )
    rows = item_rows(job_id, tenant, level.rank, [image], 0)
    with anyio.CancelScope(shield=True):
        await database.insert_job(job, rows)
        publish(request.app.state.publisher, job_id, queued_ids(rows), level)
    return Taken(describe_added(job_id, closed=True, n_items=len(rows), priority=level))
