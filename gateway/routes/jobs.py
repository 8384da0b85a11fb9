"""Submit, inspect and cancel jobs."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, UploadFile, status
from sqlalchemy.orm import Session

from db.jobs import cancel_job, get_job, read_job_state
from db.models import Job
from gateway.deps import PublisherDep, SessionDep, SettingsDep, StoreDep, TenantDep
from gateway.errors import responses
from gateway.idempotency import IdempotencyKeyHeader
from gateway.links import job_links
from gateway.schemas import JobAccepted, JobCounts, JobPublic
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
ManifestField = Annotated[
    UploadFile | None,
    File(
        description="Optional CSV with a header row: filename,label,patient_id[,slide_id,...]. "
        "A row matches the item with that relative path, else every item with that base name."
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
    manifest: ManifestField = None,
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
    state = read_job_state(job, session=session)
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
