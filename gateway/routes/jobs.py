"""Submit, inspect and cancel jobs."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, HTTPException, UploadFile, status

from db.jobs import cancel_job, get_job, read_job_state
from db.models import Job
from gateway.deps import PublisherDep, SessionDep, SettingsDep, StoreDep
from gateway.errors import responses
from gateway.links import job_links
from gateway.schemas import JobAccepted, JobCounts, JobPublic, RejectedFile
from gateway.submission import submit_files

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

FilesField = Annotated[
    list[UploadFile],
    File(description="One or many image files (PNG, JPEG, TIFF, BMP, WebP, GIF)."),
]


def find_job(job_id: uuid.UUID, session: SessionDep) -> Job:
    """Return the job or raise 404."""
    job = get_job(job_id, session=session)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id} not found")
    return job


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses=responses(400, 413, 415, 422, 503),
)
def create_job_route(
    files: FilesField,
    settings: SettingsDep,
    store: StoreDep,
    publisher: PublisherDep,
    session: SessionDep,
) -> JobAccepted:
    """Submit images; answers at once with the job ID while workers classify them.

    Parts that are not images are refused one by one (they appear as failed items with
    their reason); the request fails with 415 only when no part is an image.
    """
    job, intake = submit_files(
        files, settings=settings, store=store, publisher=publisher, session=session
    )
    return JobAccepted(
        job_id=job.id,
        status="queued",
        n_items=len(intake.accepted),
        n_rejected=len(intake.refused),
        rejected=[RejectedFile(filename=i.filename, reason=i.error or "") for i in intake.refused],
        links=job_links(job.id),
    )


def to_public(job: Job, session: SessionDep) -> JobPublic:
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


@router.get("/{job_id}", response_model=JobPublic, responses=responses(404, 422))
def read_job_route(job_id: uuid.UUID, session: SessionDep) -> JobPublic:
    """Return a job's status and progress counts."""
    return to_public(find_job(job_id, session), session)


@router.delete("/{job_id}", response_model=JobPublic, responses=responses(404, 422))
def cancel_job_route(job_id: uuid.UUID, session: SessionDep) -> JobPublic:
    """Cancel every image that has not started; finished results are kept."""
    job = find_job(job_id, session)
    cancel_job(job, session=session)
    session.flush()
    return to_public(job, session)
