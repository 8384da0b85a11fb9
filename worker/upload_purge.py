"""The purge's upload step: open uploads that took no chunk for too long go, chunks first.

A completed upload keeps its blob: slide jobs reference it, and the job purge spares a
digest a completed upload holds (db.purge.held_elsewhere).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from core.settings import Settings
from core.storage import BlobStore
from core.upload_store import ChunkStore
from db.session import get_session
from db.uploads import delete_upload, find_expired_uploads, lock_expired_upload


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
