"""One job over many requests: add files to an open job, then close it."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from db.jobs import close_job
from db.webhook_events import record_final_events
from gateway.deps import (
    LockedJobDep,
    PublisherDep,
    SessionDep,
    SettingsDep,
    StoreDep,
    TenantDep,
)
from gateway.errors import responses
from gateway.forms import OptionalFilesField
from gateway.idempotency import IdempotencyKeyHeader, request_key
from gateway.intake.parts import ManifestPart
from gateway.schemas import JobAccepted, JobClosed
from gateway.submission import Services, Upload, add_to_open_job, manifest_report
from gateway.views import to_public

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.post(
    "/{job_id}/items",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses=responses(400, 401, 404, 409, 413, 415, 422, 429, 503),
)
def add_items_route(
    job_id: uuid.UUID,
    tenant: TenantDep,
    settings: SettingsDep,
    store: StoreDep,
    publisher: PublisherDep,
    session: SessionDep,
    idempotency_key: IdempotencyKeyHeader = None,
    files: OptionalFilesField = None,
    manifest: ManifestPart = None,
) -> JobAccepted:
    """Add files (and/or manifest rows) to an open job; its new images are queued at once.

    Same rules as `POST /v1/jobs`. A file whose content is already in the job is listed in
    `duplicates` and not added. A retry with the same `Idempotency-Key` gets the first
    answer and adds nothing (422 for the key sent again with other files, names or fields).
    409 once the job is closed or cancelled.
    """
    services = Services(settings, store, publisher, session, tenant)
    parts = [*(("files", file) for file in files or []), ("manifest", manifest)]
    upload = Upload(files or [], manifest, request_key(idempotency_key, parts))
    return add_to_open_job(job_id, upload, services)


@router.post("/{job_id}/close", response_model=JobClosed, responses=responses(401, 404, 422, 429))
def close_job_route(job: LockedJobDep, session: SessionDep, settings: SettingsDep) -> JobClosed:
    """Seal an open job: no more files, and its status may now become final.

    Closing again changes nothing. `manifest.unmatched` lists manifest rows that named
    no item.
    """
    close_job(job)  # LockedJobDep waited for the adds in flight to commit
    session.flush()
    record_final_events([job.id], session=session)  # all its items may be done
    public = to_public(job, session, settings)
    return JobClosed(**public.model_dump(), manifest=manifest_report(job.id, None, session))
