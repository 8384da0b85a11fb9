"""Accept files into a new job: store, commit, then publish (never the other way round)."""

from __future__ import annotations

import logging
import uuid

from celery import Celery
from fastapi import HTTPException, UploadFile, status
from sqlalchemy.orm import Session

from core.queue import publish_items
from core.settings import Settings
from core.storage import BlobStore
from db.jobs import create_job, mark_published
from db.models import Job
from gateway.uploads import Intake, take_files

logger = logging.getLogger(__name__)


def refuse_if_empty(intake: Intake) -> None:
    """Raise 413 or 415 when no part of the upload is an acceptable image."""
    if not intake.items:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "no files in the upload")
    if intake.accepted:
        return
    reasons = "; ".join(f"{item.filename}: {item.error}" for item in intake.refused[:20])
    code = (
        status.HTTP_413_CONTENT_TOO_LARGE
        if intake.oversized == len(intake.items)
        else status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    )
    raise HTTPException(code, f"no acceptable image in the upload: {reasons}")


def publish(
    publisher: Celery, item_ids: list[uuid.UUID], settings: Settings, session: Session
) -> None:
    """Publish tasks for committed items; if the broker is down, leave them to the sweeper."""
    try:
        publish_items(publisher, [str(i) for i in item_ids], settings.max_batch_size)
    except Exception:
        logger.warning("broker unreachable; %d items wait for the sweeper", len(item_ids))
        mark_published(item_ids, session=session, published=False)
        session.commit()


def submit_files(
    files: list[UploadFile],
    *,
    settings: Settings,
    store: BlobStore,
    publisher: Celery,
    session: Session,
) -> tuple[Job, Intake]:
    """Create a job from uploaded files and queue its images for inference."""
    if len(files) > settings.max_files_per_request:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"{len(files)} files in one request; the limit is {settings.max_files_per_request}",
        )
    intake = take_files(files, settings=settings, store=store)
    refuse_if_empty(intake)
    job, item_ids = create_job(intake.items, session=session)
    session.commit()
    publish(publisher, item_ids, settings, session)
    logger.info("job submitted", extra={"job_id": str(job.id), "n_items": len(item_ids)})
    return job, intake
