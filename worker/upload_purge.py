"""The purge's upload step: open uploads that took no chunk for too long go, chunks first;
completed uploads let go of their blob as long after completion.

A completed upload holds its blob (db.purge.held_elsewhere) for INFERQ_UPLOAD_EXPIRY_HOURS,
time to name it in a slide job; from then on only the jobs that name it hold the blob, and
the job purge deletes it with their images. A blob no job holds is deleted with the upload.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from core.settings import Settings
from core.storage import BlobStore
from core.upload_store import ChunkStore
from db.purge import held_elsewhere
from db.session import get_session
from db.uploads import (
    delete_upload,
    find_expired_uploads,
    find_stale_completed,
    lock_expired_upload,
    take_stale_completed,
)

# As the job purge's: a blob stored this recently may belong to a job not committed yet.
RECENT_WRITE_GRACE = timedelta(hours=1)


def upload_cutoff(settings: Settings, now: datetime) -> datetime:
    """Return the time before which an open upload's last chunk makes it expired."""
    return now - timedelta(hours=settings.upload_expiry_hours)


def expire_uploads(
    settings: Settings, store: BlobStore, now: datetime, *, dry_run: bool, limit: int | None
) -> int:
    """Delete up to `limit` expired open uploads (chunks, then rows); return how many."""
    url = settings.resolved_database_url
    batch = min(limit or settings.purge_batch_size, settings.purge_batch_size)
    cutoff = upload_cutoff(settings, now)
    with get_session(url) as session:
        expired = find_expired_uploads(session=session, cutoff=cutoff, limit=batch)
    if dry_run:
        return len(expired)
    chunks = ChunkStore(store)
    deleted = 0
    for upload_id in expired:
        with get_session(url) as session:  # locked: no chunk of it is being taken meanwhile
            if not lock_expired_upload(upload_id, session=session, cutoff=cutoff):
                continue  # a chunk came after all
            chunks.discard(upload_id)  # files first: a row left over is found again next time
            delete_upload(upload_id, session=session)
            deleted += 1
    return deleted


def release_completed(
    settings: Settings, store: BlobStore, now: datetime, *, dry_run: bool, limit: int | None
) -> tuple[int, int]:
    """Delete up to `limit` completed uploads past their expiry, and each blob no job of
    kept images holds (unless just sent again: its job is not committed yet, and will hold
    it); return (uploads, blobs) deleted."""
    url = settings.resolved_database_url
    batch = min(limit or settings.purge_batch_size, settings.purge_batch_size)
    cutoff = upload_cutoff(settings, now)
    with get_session(url) as session:
        stale = find_stale_completed(session=session, cutoff=cutoff, limit=batch)
    if dry_run:
        return len(stale), 0
    uploads = blobs = 0
    for upload_id in stale:
        with get_session(url) as session:
            digest = take_stale_completed(upload_id, session=session, cutoff=cutoff)
            held = digest is None or bool(held_elsewhere([digest], session=session, released=()))
        uploads += digest is not None
        if (
            not held
            and digest is not None
            and store.delete(digest, written_before=now - RECENT_WRITE_GRACE)
        ):
            blobs += 1
    return uploads, blobs
