"""Accept files into a job: store, commit, then hand the new items to the publisher (never
the other way round)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from fastapi import HTTPException, UploadFile, status
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.priority import Priority
from core.settings import Settings
from core.storage import BlobStore
from db.jobs import NewItem, add_items, create_job, existing_hashes
from db.manifests import apply_to_existing, attach_metadata, read_manifest_status, store_entries
from db.models import Job
from db.webhook_events import record_final_events
from gateway.deps import find_tenant_job
from gateway.idempotency import RequestKey, remember, replay
from gateway.intake.manifest import ParsedManifest
from gateway.intake.request import Gathered, read_request
from gateway.intake.uploads import Intake
from gateway.links import job_links
from gateway.priorities import PriorityChoice
from gateway.publisher import Publisher
from gateway.schemas import DuplicateFile, JobAccepted, ManifestLine, ManifestReport, RejectedFile

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    """What a submission needs besides the request: settings, storage, broker, session, and
    the tenant it is made for."""

    settings: Settings
    store: BlobStore
    publisher: Publisher
    session: Session
    tenant: str


@dataclass(frozen=True)
class Upload:
    """The parts of one submission request."""

    files: list[UploadFile]
    manifest: UploadFile | None = None
    idempotency_key: RequestKey | None = None


def gather(upload: Upload, services: Services) -> Gathered:
    """Read the request's manifest and files against one budget (gateway.intake)."""
    return read_request(
        upload.files, upload.manifest, settings=services.settings, store=services.store
    )


def drop_duplicates(
    job_id: uuid.UUID, items: list[NewItem], session: Session, *, known: set[str] | None = None
) -> tuple[list[NewItem], list[NewItem]]:
    """Split items into new ones and those whose content the job (or request) already has.

    `known` is the job's hashes when the caller knows them (an empty set for a new job).
    """
    seen = (
        known
        if known is not None
        else existing_hashes(job_id, (item.content_hash for item in items), session=session)
    )
    fresh, duplicates = [], []
    for item in items:
        if item.content_hash and item.content_hash in seen:
            duplicates.append(item)
            continue
        seen.add(item.content_hash)
        fresh.append(item)
    return fresh, duplicates


def manifest_report(
    job_id: uuid.UUID, manifest: ParsedManifest | None, session: Session
) -> ManifestReport | None:
    """Describe how the job's manifest matches its items, with this request's bad lines."""
    current = read_manifest_status(job_id, session=session)
    errors = (
        [ManifestLine(line=e.line, reason=e.reason) for e in manifest.errors] if manifest else []
    )
    if current is None and not errors:
        return None
    n_rows, n_matched, unmatched = (
        (current.n_rows, current.n_matched, current.unmatched) if current else (0, 0, [])
    )
    return ManifestReport(
        n_rows=n_rows,
        n_matched=n_matched,
        unmatched=unmatched,
        errors=errors,
        n_errors=manifest.n_errors if manifest else 0,
    )


def add_to_job(
    job: Job,
    intake: Intake,
    manifest: ParsedManifest | None,
    session: Session,
    *,
    new: bool = False,
) -> tuple[list[uuid.UUID], JobAccepted]:
    """Insert a request's items and manifest rows into a job and describe what was added.

    A job created by this request (`new`) holds nothing yet: with no manifest either, its
    items go in with one INSERT and no lookups, the one-image request's fast path.
    """
    if manifest is not None:
        store_entries(job.id, manifest.rows, session=session)
    bare = new and manifest is None
    fresh, duplicates = drop_duplicates(job.id, intake.items, session, known=set() if new else None)
    if not bare:
        fresh = attach_metadata(job.id, fresh, session=session)
    item_ids = add_items(job, fresh, session=session, start=0 if new else None)
    if manifest is not None:
        apply_to_existing(job.id, {row.filename for row in manifest.rows}, session=session)
    accepted = describe_added(
        job.id,
        closed=job.closed_at is not None,
        n_items=len(item_ids),
        refused=[item for item in fresh if item.error is not None],
        duplicates=duplicates,
        skipped=intake.skipped,
        manifest=None if bare else manifest_report(job.id, manifest, session),
        priority=Priority.from_rank(job.priority),
    )
    return item_ids, accepted


def describe_added(
    job_id: uuid.UUID,
    *,
    closed: bool,
    n_items: int,
    priority: Priority,
    refused: list[NewItem] | None = None,
    duplicates: list[NewItem] | None = None,
    skipped: list[str] | None = None,
    manifest: ManifestReport | None = None,
) -> JobAccepted:
    """Describe what a request added to a job: the answer to a submission."""
    refused, duplicates, skipped = refused or [], duplicates or [], skipped or []
    return JobAccepted(
        job_id=job_id,
        status="queued" if closed else "open",
        n_items=n_items,
        n_rejected=len(refused),
        rejected=[RejectedFile(filename=i.filename, reason=i.error or "") for i in refused],
        n_duplicates=len(duplicates),
        duplicates=[
            DuplicateFile(filename=i.filename, content_hash=i.content_hash) for i in duplicates
        ],
        n_skipped=len(skipped),
        skipped=skipped,
        manifest=manifest,
        links=job_links(job_id),
        priority=priority,
    )


def commit_and_publish(
    key: RequestKey | None,
    scope: str,
    item_ids: list[uuid.UUID],
    accepted: JobAccepted,
    services: Services,
) -> JobAccepted:
    """Commit the job's changes with the idempotency key, then publish its new items."""
    session = services.session
    remember(key, scope, accepted, session, services.tenant)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()  # a concurrent request with the same key won the race
        replayed = replay(key, scope, session, services.tenant)
        if replayed is None:
            raise
        return replayed
    publish(services.publisher, accepted.job_id, item_ids, accepted.priority)
    return accepted


def publish(
    publisher: Publisher, job_id: uuid.UUID, item_ids: list[uuid.UUID], priority: Priority
) -> None:
    """Hand a committed job's new items to the publisher and log that they were added."""
    publisher.wake(item_ids, priority)
    logger.info("files added", extra={"job_id": str(job_id), "n_items": len(item_ids)})


def submit_job(
    upload: Upload,
    services: Services,
    *,
    close: bool = True,
    job_id: uuid.UUID | None = None,
    callback_url: str | None = None,
    priority: PriorityChoice | None = None,
    gathered: Gathered | None = None,
) -> JobAccepted:
    """Create a job from a request's files (open when `close` is false) and queue them at
    the priority `priority` resolves to (normal without one). `gathered` is the request's
    intake when the caller has read it already."""
    replayed = replay(upload.idempotency_key, "create", services.session, services.tenant)
    if replayed is not None:
        return replayed
    if not upload.files:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "no files in the upload")
    intake, manifest = gathered or gather(upload, services)
    small = services.settings.interactive_max_items
    level = priority.resolve(len(intake.items), closed=close, small=small) if priority else None
    job, _ = create_job(
        [],
        session=services.session,
        tenant=services.tenant,
        closed=close,
        job_id=job_id,
        callback_url=callback_url,
        priority=(level or Priority.NORMAL).rank,
    )
    item_ids, accepted = add_to_job(job, intake, manifest, services.session, new=True)
    if not item_ids:  # every file refused: the job is final already
        record_final_events([job.id], session=services.session)
    return commit_and_publish(upload.idempotency_key, "create", item_ids, accepted, services)


def open_job(job_id: uuid.UUID, services: Services, *, lock: bool = False) -> Job:
    """Return a job that still accepts files; 404 if there is none, 409 if it is sealed."""
    job = find_tenant_job(job_id, services.session, services.tenant, lock=lock)
    if job.closed_at is not None:
        state = "cancelled" if job.cancelled_at else "closed"
        raise HTTPException(status.HTTP_409_CONFLICT, f"job {job_id} is {state}; create a new job")
    return job


def add_to_open_job(job_id: uuid.UUID, upload: Upload, services: Services) -> JobAccepted:
    """Add a request's files (or manifest) to an open job and queue the new images at once."""
    scope = f"items:{job_id}"
    replayed = replay(upload.idempotency_key, scope, services.session, services.tenant)
    if replayed is not None:
        return replayed
    open_job(job_id, services)  # refuse early, before storing anything
    services.session.rollback()
    intake, manifest = gather(upload, services)
    job = open_job(job_id, services, lock=True)  # requests adding to a job take turns
    replayed = replay(upload.idempotency_key, scope, services.session, services.tenant)
    if replayed is not None:  # the same request finished while this one waited for the lock
        return replayed
    item_ids, accepted = add_to_job(job, intake, manifest, services.session)
    return commit_and_publish(upload.idempotency_key, scope, item_ids, accepted, services)
