"""The purge: delete the images and then the rows of final jobs past their retention.

A blob is content-addressed and shared by every item, job and tenant that sent the same
bytes, so it is deleted only when no job whose images are kept (open, running, or final but
within its retention) references it. Runs in bounded batches, one short transaction each.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime

from core.retention import Retention, default_retention, retention_for
from core.settings import Settings
from core.storage import BlobStore
from db.models import utc_now
from db.purge import (
    FinalJob,
    Scope,
    count_items,
    delete_some_rows,
    find_images_expired,
    find_rows_expired,
    held_elsewhere,
    job_hashes,
    mark_images_purged,
    purge_lock,
)
from db.session import get_session
from worker.orphan_blobs import folder_at, sweep_orphans
from worker.upload_purge import RECENT_WRITE_GRACE, expire_uploads, release_completed

logger = logging.getLogger(__name__)


@dataclass
class PurgeReport:
    """What one purge deleted, or in a dry run would delete."""

    dry_run: bool
    locked_out: bool = False  # another purge held the lock: nothing was looked at
    image_jobs: int = 0  # final jobs whose images were let go
    blobs_deleted: int = 0
    blobs_shared: int = 0  # kept: a job whose images are kept references them
    blobs_recent: int = 0  # kept: written within RECENT_WRITE_GRACE; the job is tried again
    jobs_deleted: int = 0
    items_deleted: int = 0
    # open uploads that took no chunk, and completed ones older, than INFERQ_UPLOAD_EXPIRY_HOURS
    uploads_expired: int = 0
    orphans_deleted: int = 0  # blobs no row holds, in the folder this pass swept

    def add(self, other: PurgeReport) -> None:
        """Count another pass's deletions into this report."""
        self.locked_out |= other.locked_out
        self.image_jobs += other.image_jobs
        self.blobs_deleted += other.blobs_deleted
        self.blobs_shared += other.blobs_shared
        self.blobs_recent += other.blobs_recent
        self.jobs_deleted += other.jobs_deleted
        self.items_deleted += other.items_deleted
        self.uploads_expired += other.uploads_expired
        self.orphans_deleted += other.orphans_deleted

    @property
    def progressed(self) -> bool:
        """Return whether this pass changed anything (another pass may find more)."""
        return not self.dry_run and bool(
            self.image_jobs or self.jobs_deleted or self.uploads_expired
        )


def retention_scopes(settings: Settings) -> list[tuple[Scope, Retention]]:
    """Return each tenant override's scope, then every other tenant's, with their retention."""
    overrides = frozenset(settings.tenant_retention)
    scopes = [
        (Scope(frozenset({tenant}), True), retention_for(settings, tenant))
        for tenant in sorted(overrides)
    ]
    return [*scopes, (Scope(overrides, False), default_retention(settings))]


class Purge:
    """One pass over every retention scope: images first, then rows."""

    def __init__(
        self, settings: Settings, store: BlobStore, *, dry_run: bool, orphans: bool
    ) -> None:
        self.settings = settings
        self.orphans = orphans
        self.url = settings.resolved_database_url
        self.batch = settings.purge_batch_size
        self.scopes = retention_scopes(settings)
        self.store = store
        self.report = PurgeReport(dry_run)
        self.released: dict[uuid.UUID, FinalJob] = {}
        self.now = utc_now()

    def run(self, limit: int | None) -> PurgeReport:
        """Purge up to `limit` jobs a scope and step; return the report."""
        with purge_lock(self.url) as held:
            if not held:
                self.report.locked_out = True
                return self.report
            for scope, retention in self.scopes:
                for job in self.find_final(scope, self.now - retention.images, limit):
                    self.release_images(job)
            for scope, retention in self.scopes:
                self.delete_jobs(scope, self.now - retention.rows, limit)
            dry_run = self.report.dry_run
            self.report.uploads_expired = expire_uploads(
                self.settings, self.store, self.now, dry_run=dry_run, limit=limit
            )
            released, deleted = release_completed(
                self.settings, self.store, self.now, dry_run=dry_run, limit=limit
            )
            self.report.uploads_expired += released
            self.report.blobs_deleted += deleted
            if self.orphans:
                folder = folder_at(self.now, self.settings.purge_interval_seconds)
                self.report.orphans_deleted = sweep_orphans(
                    self.settings, self.store, self.now, folder, dry_run=dry_run
                )
        return self.report

    def find_final(self, scope: Scope, cutoff: datetime, limit: int | None) -> list[FinalJob]:
        """Return the scope's final jobs whose images expired before the cutoff."""
        with get_session(self.url) as session:
            return find_images_expired(session=session, cutoff=cutoff, scope=scope, limit=limit)

    def release_images(self, job: FinalJob) -> None:
        """Delete the blobs only this job holds, then mark its images purged."""
        kept_recent = False
        after = ""
        while True:
            with get_session(self.url) as session:
                page = job_hashes(job.id, session=session, after=after, limit=self.batch)
                held = held_elsewhere(page, session=session, released={*self.released, job.id})
            if not page:
                break
            for digest in page:
                kept_recent |= self.delete_blob(digest, shared=digest in held) is False
            after = page[-1]
        if kept_recent:
            return
        if not self.report.dry_run:
            with get_session(self.url) as session:
                mark_images_purged(job, session=session)
        self.released[job.id] = job
        self.report.image_jobs += 1

    def delete_blob(self, digest: str, *, shared: bool) -> bool | None:
        """Delete one blob; return False if it was kept as too recent, None if shared."""
        if shared:
            self.report.blobs_shared += 1
            return None
        if self.report.dry_run or self.store.delete(
            digest, written_before=self.now - RECENT_WRITE_GRACE
        ):
            self.report.blobs_deleted += 1
            return True
        self.report.blobs_recent += 1
        return False

    def delete_jobs(self, scope: Scope, cutoff: datetime, limit: int | None) -> None:
        """Delete the rows of jobs past their row retention, a batch per transaction."""
        with get_session(self.url) as session:
            job_ids = find_rows_expired(session=session, cutoff=cutoff, scope=scope, limit=limit)
        if self.report.dry_run:  # what this pass would have marked counts as marked
            job_ids += [
                job.id
                for job in self.released.values()
                if scope.holds(job.tenant) and job.final_at < cutoff
            ]
        with get_session(self.url) as session:
            self.report.items_deleted += count_items(job_ids, session=session)
        self.report.jobs_deleted += len(job_ids)
        if self.report.dry_run:
            return
        for job_id in job_ids:
            while True:
                with get_session(self.url) as session:
                    if not delete_some_rows(job_id, session=session, limit=self.batch):
                        break


def purge_once(
    settings: Settings,
    store: BlobStore,
    *,
    dry_run: bool = False,
    limit: int | None = None,
    orphans: bool = True,
) -> PurgeReport:
    """Run one purge pass over up to `limit` jobs a scope and step, and with `orphans` a
    sweep of one folder of blobs no row holds (worker.orphan_blobs); return what it did."""
    report = Purge(settings, store, dry_run=dry_run, orphans=orphans).run(limit)
    if report.image_jobs or report.jobs_deleted or report.uploads_expired or report.orphans_deleted:
        logger.info(
            "purge: images of %d jobs (%d blobs deleted, %d shared kept), %d jobs deleted, "
            "%d expired uploads deleted, %d blobs no row held deleted",
            report.image_jobs,
            report.blobs_deleted,
            report.blobs_shared,
            report.jobs_deleted,
            report.uploads_expired,
            report.orphans_deleted,
            extra={"dry_run": dry_run},
        )
    return report


def purge_all(
    settings: Settings, store: BlobStore, stop: threading.Event | None = None
) -> PurgeReport:
    """Run purge passes of one batch of jobs each until one finds nothing more to do."""
    total = PurgeReport(dry_run=False)
    first = True
    while stop is None or not stop.is_set():
        # The orphans' folder is swept once, by the first pass: it is the same folder in all.
        report = purge_once(settings, store, limit=settings.purge_batch_size, orphans=first)
        first = False
        total.add(report)
        if not report.progressed:
            break
    return total


class PurgeThread(threading.Thread):
    """Purges every interval until stopped; errors are logged, never fatal."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(name="inferq-purge", daemon=True)
        self._settings = settings
        self._stop_event = threading.Event()

    def run(self) -> None:
        store = BlobStore(self._settings.resolved_storage_url)
        while not self._stop_event.wait(self._settings.purge_interval_seconds):
            try:
                purge_all(self._settings, store, self._stop_event)
            except Exception:
                logger.exception("purge failed; retrying next interval")

    def stop(self) -> None:
        """Ask the loop to end after the current pass."""
        self._stop_event.set()
