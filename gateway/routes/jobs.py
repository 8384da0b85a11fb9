"""Submit, inspect and cancel jobs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    UploadFile,
    status,
)
from sqlalchemy.orm import Session

from db.jobs import JobState, cancel_job, get_job, list_jobs, read_job_state, read_job_states
from db.models import Job
from gateway.deps import PublisherDep, SessionDep, SettingsDep, StoreDep, TenantDep
from gateway.errors import responses
from gateway.idempotency import IdempotencyKeyHeader
from gateway.intake.parts import ManifestPart
from gateway.links import job_links
from gateway.schemas import JobAccepted, JobCounts, JobList, JobPublic
from gateway.submission import Services, Upload, submit_job

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

FilesField = Annotated[
    list[UploadFile],
    File(
        min_length=1,
        description="One or many image files (PNG, JPEG, TIFF, BMP, WebP, GIF), or .zip, .tar "
        "or .tar.gz archives of folders of them.",
    ),
]


def find_job(job_id: uuid.UUID, session: Session, tenant: str, *, lock: bool = False) -> Job:
    """Return the tenant's job or raise 404 (the same for another tenant's job)."""
    job = get_job(job_id, session=session, tenant=tenant, for_update=lock)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id} not found")
    return job


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses=responses(400, 401, 413, 415, 422, 429, 503),
)
def create_job_route(
    files: FilesField,
    tenant: TenantDep,
    settings: SettingsDep,
    store: StoreDep,
    publisher: PublisherDep,
    session: SessionDep,
    idempotency_key: IdempotencyKeyHeader = None,
    manifest: ManifestPart = None,
    close: Annotated[
        bool, Form(description="false keeps the job open for POST /v1/jobs/{id}/items.")
    ] = True,
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
    with the same `Idempotency-Key` gets the first answer and adds nothing.
    """
    services = Services(settings, store, publisher, session, tenant)
    return submit_job(Upload(files, manifest, idempotency_key), services, close=close)


def to_public(job: Job, session: Session) -> JobPublic:
    """Build the public view of a job."""
    return public_view(read_job_state(job, session=session))


def public_view(state: JobState) -> JobPublic:
    """Build the public view of a job from its state."""
    job = state.job
    return JobPublic(
        job_id=job.id,
        status=state.status,  # type: ignore[arg-type]
        counts=JobCounts(**state.counts),
        created_at=job.created_at,
        closed_at=job.closed_at,
        finished_at=state.finished_at,
        cancelled_at=job.cancelled_at,
        model=state.models,
        links=job_links(job.id),
    )


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_IDS = 100  # 100 IDs keep the URL near 4 KiB, far below any server's line limit

IdsQuery = Annotated[
    list[str] | None,
    Query(
        description=f"Job IDs to read, repeated or comma-separated (at most {MAX_IDS}); "
        "unknown IDs and other tenants' jobs are left out."
    ),
]


def parse_ids(values: list[str] | None) -> list[uuid.UUID] | None:
    """Return the job IDs of `ids` parameters; 400 for a malformed one or too many."""
    if values is None:
        return None
    parts = [part.strip() for value in values for part in value.split(",") if part.strip()]
    if not parts:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "ids names no job")
    if len(parts) > MAX_IDS:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"{len(parts)} ids; at most {MAX_IDS} a request"
        )
    try:
        return [uuid.UUID(part) for part in parts]
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "ids must be job UUIDs") from None


def encode_cursor(job: Job) -> str:
    """Return the cursor of the page after this job."""
    micros = (job.created_at - EPOCH) // timedelta(microseconds=1)  # exact, URL-safe
    return f"{micros}_{job.id}"


def decode_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    """Return the (created_at, id) a cursor stands for; 400 if it is not one."""
    if cursor is None:
        return None
    try:
        micros, _, job_id = cursor.partition("_")
        return EPOCH + timedelta(microseconds=int(micros)), uuid.UUID(job_id)
    except (ValueError, OverflowError):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "cursor must be a next_cursor value"
        ) from None


LISTING_PARAMETERS = frozenset({"ids", "limit", "cursor"})


async def refuse_unknown_parameters(request: Request) -> None:
    """Refuse a listing with a parameter it does not know: `?id=` must not list every job."""
    unknown = sorted(set(request.query_params) - LISTING_PARAMETERS)
    if unknown:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"unknown query parameter {unknown[0]!r}; use ids, limit or cursor",
        )


@router.get(
    "",
    response_model=JobList,
    responses=responses(400, 401, 422, 429),
    dependencies=[Depends(refuse_unknown_parameters)],
)
def list_jobs_route(
    tenant: TenantDep,
    session: SessionDep,
    ids: IdsQuery = None,
    limit: Annotated[int, Query(ge=1, le=MAX_IDS)] = MAX_IDS,
    cursor: str | None = None,
) -> JobList:
    """Return many jobs' status and counts in one call, newest first.

    With `ids`, the named jobs (a client polling 500 one-image jobs asks 5 times, not
    500); without, the tenant's latest jobs, a page at a time (follow `next_cursor`).
    """
    wanted = parse_ids(ids)
    jobs = list_jobs(
        session=session,
        tenant=tenant,
        ids=wanted,
        limit=len(wanted) if wanted else limit,
        before=decode_cursor(cursor),
    )
    page = [public_view(state) for state in read_job_states(jobs, session=session)]
    full = wanted is None and len(jobs) == limit
    return JobList(jobs=page, next_cursor=encode_cursor(jobs[-1]) if full else None)


@router.get("/{job_id}", response_model=JobPublic, responses=responses(401, 404, 422, 429))
def read_job_route(job_id: uuid.UUID, tenant: TenantDep, session: SessionDep) -> JobPublic:
    """Return a job's status and progress counts (`open` until an open job is closed)."""
    return to_public(find_job(job_id, session, tenant), session)


@router.delete("/{job_id}", response_model=JobPublic, responses=responses(401, 404, 422, 429))
def cancel_job_route(job_id: uuid.UUID, tenant: TenantDep, session: SessionDep) -> JobPublic:
    """Cancel every image that has not started; finished results are kept."""
    job = find_job(job_id, session, tenant)
    cancel_job(job, session=session)
    session.flush()
    return to_public(job, session)
