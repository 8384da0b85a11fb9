"""`inferq purge`: delete expired images and jobs now, or show what would go."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from core.logging import configure_logging
from core.settings import get_settings
from core.storage import BlobStore

if TYPE_CHECKING:
    from worker.purge import PurgeReport


def purge(
    dry_run: bool = typer.Option(False, "--dry-run", help="Delete nothing; say what would go."),
) -> None:
    """Delete the images and then the rows of final jobs past their retention.

    Each worker does the same every INFERQ_PURGE_INTERVAL_SECONDS. A blob that a job
    still keeping its images (or a completed upload) references stays. Open uploads
    without a chunk for INFERQ_UPLOAD_EXPIRY_HOURS are deleted with their chunks, and, in
    one of the store's 256 folders each time, blobs that nothing holds and that were
    written over an hour ago (left by requests that failed after storing them).
    """
    from worker.purge import purge_all, purge_once

    settings = get_settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    store = BlobStore(settings.resolved_storage_url)
    # A dry run is one pass over every expired job; a real purge goes a batch at a time.
    report = purge_once(settings, store, dry_run=True) if dry_run else purge_all(settings, store)
    if report.locked_out:
        typer.echo("another purge is running; nothing done")
        return
    typer.echo(describe(report))


def describe(report: PurgeReport) -> str:
    """Return what a purge did (or would do) in four lines."""
    verb = "would delete" if report.dry_run else "deleted"
    return (
        f"{verb} the images of {report.image_jobs} jobs: {report.blobs_deleted} blobs "
        f"(kept {report.blobs_shared} still referenced by other jobs, "
        f"{report.blobs_recent} sent again within the last hour)\n"
        f"{verb} {report.jobs_deleted} jobs with {report.items_deleted} items\n"
        f"{verb} {report.uploads_expired} uploads past INFERQ_UPLOAD_EXPIRY_HOURS "
        "(open without a chunk, or completed)\n"
        f"{verb} {report.orphans_deleted} blobs no job, slide or upload holds "
        "(one folder of the store's 256 a purge)"
    )
