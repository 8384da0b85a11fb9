"""Submit, inspect and cancel jobs."""

from __future__ import annotations

import uuid
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Form, Query, Request, status

from db.jobs import cancel_job
from db.slides import cancel_slides
from db.tenant_rules import TenantRules, read_tenant_rules
from db.webhook_events import record_final_events
from gateway.callbacks import CallbackField, choose_callback, wanted_callback
from gateway.deps import (
    JobDep,
    PublisherDep,
    SessionDep,
    SessionOpenerDep,
    SettingsDep,
    StoreDep,
    TenantDep,
    job_not_found,
    only_parameters,
    read_tenant_job,
)
from gateway.errors import responses
from gateway.forms import FilesField
from gateway.idempotency import IdempotencyKeyHeader, request_key
from gateway.intake.parts import ManifestPart, fields_once
from gateway.job_listing import Listing, WaitQuery, answer_listing, reader
from gateway.listing import (
    CreatedAfterQuery,
    CreatedBeforeQuery,
    StatusQuery,
    parse_statuses,
)
from gateway.loop_intake import loop_database, take_on_loop
from gateway.pagination import (
    MAX_IDS,
    CursorQuery,
    IdsQuery,
    decode_job_cursor,
    parse_ids,
)
from gateway.priorities import PriorityChoice, PriorityField, choose_priority
from gateway.schemas import JobAccepted, JobList, JobPublic
from gateway.submission import Services, Upload, submit_job
from gateway.views import public_view, to_public, with_progress

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses=responses(400, 401, 413, 415, 422, 429, 503),
    dependencies=[Depends(fields_once("close", "callback_url", "priority"))],
)
async def create_job_route(
    request: Request,
    files: FilesField,
    tenant: TenantDep,
    settings: SettingsDep,
    store: StoreDep,
    publisher: PublisherDep,
    open_session: SessionOpenerDep,
    idempotency_key: IdempotencyKeyHeader = None,
    manifest: ManifestPart = None,
    close: Annotated[
        bool, Form(description="false keeps the job open for POST /v1/jobs/{id}/items.")
    ] = True,
    callback_url: CallbackField = None,
    priority: PriorityField = None,
) -> JobAccepted:
    """Submit images; answers at once with the job ID while workers classify them.

    Archives are expanded (nested folders kept in each item's filename; `.DS_Store`,
    `Thumbs.db`, `__MACOSX/` and hidden files skipped). Parts that are not images are
    refused one by one (they appear as failed items with their reason); the request fails
    with 415 only when no part is an image. A file whose content is already in the job is
    not added twice. An archive member with an absolute path, `..`, a link or a device
    refuses the whole request (422), as do too many members or a compression bomb (413).
    With `close=false` the job stays open: add more with `POST /v1/jobs/{id}/items`, seal
    it with `POST /v1/jobs/{id}/close`; its images are classified as they arrive. A retry
    with the same `Idempotency-Key` gets the first answer and adds nothing; the key sent
    again with other files, file names or fields is a 422. With `callback_url` (or the
    tenant's default) the job's final status is announced by a signed webhook (see
    `GET /v1/jobs/{id}/events`); a URL that is not https or reaches a private address is a
    422 and nothing is stored. `priority` (interactive, normal or bulk; another value is a
    422) orders the job's images against other work; a tenant capped lower gets its cap.
    `close`, `priority`, `callback_url` and `manifest` are sent once at most: twice is a 400.
    """
    database = loop_database(request)
    plain = idempotency_key is None and manifest is None and close and not callback_url
    gathered = None
    if database is not None and plain and priority is None and len(files) == 1:
        job_id = uuid.uuid4()
        taken = await take_on_loop(request, database, tenant, files[0], plain_priority, job_id)
        if taken.accepted is not None:
            return taken.accepted
        gathered = taken.gathered

    def with_sessions() -> JobAccepted:
        parts = [*(("files", f) for f in files), ("manifest", manifest), ("close", str(close))]
        if callback_url:  # only when sent, so that earlier keys keep their fingerprints
            parts.append(("callback_url", callback_url))
        if priority is not None:
            parts.append(("priority", priority))
        upload = Upload(files, manifest, request_key(idempotency_key, parts))  # reads files
        with open_session() as session:
            services = Services(settings, store, publisher, session, tenant)
            rules = read_tenant_rules(tenant, session=session)  # one round trip for both
            level = choose_priority(priority, rules.priorities)
            callback = choose_callback(callback_url, tenant, rules, settings)
            return submit_job(
                upload,
                services,
                close=close,
                callback_url=callback,
                priority=level,
                gathered=gathered,
            )

    return await anyio.to_thread.run_sync(with_sessions)


def plain_priority(rules: TenantRules) -> PriorityChoice | None:
    """Return what a plain job (no priority, no callback field) asks for, or None when the
    tenant's default callback applies: checking its URL may resolve names, the sessions'
    path's work."""
    if wanted_callback(None, rules) is not None:
        return None
    return choose_priority(None, rules.priorities)


@router.get(
    "",
    response_model=JobList,
    responses=responses(400, 401, 422, 429, 503),
    dependencies=[
        Depends(
            only_parameters(
                "ids",
                "limit",
                "cursor",
                "status",
                "created_after",
                "created_before",
                "wait_seconds",
            )
        )
    ],
)
async def list_jobs_route(
    request: Request,
    tenant: TenantDep,
    open_session: SessionOpenerDep,
    ids: IdsQuery = None,
    limit: Annotated[int, Query(ge=1, le=MAX_IDS)] = MAX_IDS,
    cursor: CursorQuery = None,
    status: StatusQuery = None,
    created_after: CreatedAfterQuery = None,
    created_before: CreatedBeforeQuery = None,
    wait_seconds: WaitQuery = 0,
) -> JobList:
    """Return many jobs' status and counts in one call, newest first.

    With `ids`, the named jobs (a client polling 500 one-image jobs asks 5 times, not
    500); without, the tenant's latest jobs, a page at a time (follow `next_cursor`).
    `status` keeps jobs in those statuses, `created_after` and `created_before` bound
    when they were created; each filter holds on every page of the cursor. With `ids`,
    `wait_seconds` makes it a long poll: unless a named job is final already, the answer
    comes when one is or the time is up, so a client learns of a finished job at once
    without polling; it drops the final ones and asks again for the rest
    (`wait_seconds` without `ids` is a 400).
    """
    listing = Listing(
        tenant=tenant,
        ids=parse_ids(ids),
        limit=limit,
        before=decode_job_cursor(cursor),
        statuses=parse_statuses(status),
        created_after=created_after,
        created_before=created_before,
    )
    state = request.app.state
    read = reader(loop_database(request), open_session, state.settings, listing)
    return await answer_listing(read, state.waiters, listing, wait_seconds)


@router.get("/{job_id}", response_model=JobPublic, responses=responses(401, 404, 422, 429, 503))
async def read_job_route(
    request: Request,
    job_id: uuid.UUID,
    tenant: TenantDep,
    settings: SettingsDep,
    open_session: SessionOpenerDep,
) -> JobPublic:
    """Return a job's status and progress counts (`open` until an open job is closed).

    A final job says when its images (`images_expire_at`) and then the job itself
    (`expires_at`) are deleted; after that it is 404 like an unknown job.
    """
    database = loop_database(request)
    if database is None:
        return await read_tenant_job(
            open_session, job_id, tenant, lambda job, session: to_public(job, session, settings)
        )
    # On PostgreSQL what a polling script asks most is read on the event loop (db.loop_sql).
    found = await database.read_job(tenant, job_id)
    if found is None:
        raise job_not_found(job_id)
    state, progress = found
    return with_progress(public_view(state, settings), progress)


@router.delete("/{job_id}", response_model=JobPublic, responses=responses(401, 404, 422, 429))
def cancel_job_route(job: JobDep, session: SessionDep, settings: SettingsDep) -> JobPublic:
    """Cancel every image that has not started; finished results are kept.

    Images already handed to workers but not started are skipped by them (a worker claims
    only `queued` items); images running now finish and keep their results.
    """
    cancel_job(job, session=session)
    cancel_slides(job.id, session=session)
    session.flush()
    record_final_events([job.id], session=session)
    return to_public(job, session, settings)
