"""Public views of a job, built from its rows, for every route that answers with one."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.priority import Priority
from core.retention import expiry, retention_for
from core.settings import Settings
from db.jobs import JobState, read_job_state
from db.models import Job
from db.slides import SlideCounts, slide_progress
from gateway.links import job_links
from gateway.schemas import JobCounts, JobPublic, SlideProgress


def to_public(job: Job, session: Session, settings: Settings) -> JobPublic:
    """Build the public view of a job, with its slides' tile progress when it has slides."""
    state = read_job_state(job, session=session)
    return with_progress(public_view(state, settings), slide_progress(job.id, session=session))


def with_progress(view: JobPublic, progress: SlideCounts | None) -> JobPublic:
    """Add a job's slide progress to its view, when it has slides."""
    if progress is not None:
        view.slides = SlideProgress(slides=progress[0], tiles=progress[1], tiles_done=progress[2])
    return view


def public_view(state: JobState, settings: Settings) -> JobPublic:
    """Build the public view of a job from its state."""
    job = state.job
    images_expire_at, expires_at = expiry(state.final_at, retention_for(settings, job.tenant))
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
        images_expire_at=images_expire_at,
        expires_at=expires_at,
        priority=Priority.from_rank(job.priority),
    )
