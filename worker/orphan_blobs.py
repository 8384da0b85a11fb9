"""Blobs no row holds: stored for a request that failed after storing them (its open job
closed meanwhile, a lost race for its idempotency key, a gateway stopped before its
commit). The job purge never sees them, since no job names them.

Each purge sweeps one of the store's 256 top-level folders (a blob's folder is the first two
hex digits of its digest), chosen by the clock: the whole store is looked at about once
every 256 purge intervals, about 11 days at the hourly default (a pass that starts late may
skip a folder, which waits one more round; each worker's pass in an interval looks at the
same folder). A blob there goes when no job whose images are kept, no slide thumbnail and
no completed upload holds it (db.purge's held_elsewhere, as for a purged job's blobs) and it
was written, or sent again, more than RECENT_WRITE_GRACE ago: a request that has stored a
blob and not yet committed its rows is younger than that.

Only a local folder is swept: there sending a blob again renews its time (BlobStore.put),
so a blob an orphan's bytes are sent again for is young again before its new item commits.
An object store keeps the first write's time (or none), so the same check could delete a
blob a request is about to commit an item for; orphans there are left to a bucket's own
lifecycle rules.
"""

from __future__ import annotations

from datetime import datetime

from core.settings import Settings
from core.storage import BlobStore
from db.purge import held_elsewhere
from db.session import get_session
from worker.upload_purge import RECENT_WRITE_GRACE

FOLDERS = 256


def folder_at(now: datetime, interval_seconds: float) -> str:
    """Return the top-level folder the purge at `now` sweeps: the next one each interval."""
    turn = int(now.timestamp() // max(interval_seconds, 1.0))
    return f"{turn % FOLDERS:02x}"


def sweep_orphans(
    settings: Settings, store: BlobStore, now: datetime, folder: str, *, dry_run: bool
) -> int:
    """Delete the blobs under `folder` that nothing holds and that are past the grace, a
    page of `purge_batch_size` digests at a time; return how many went (or would go). A
    store that is not a local folder is not swept (see the module's docstring)."""
    if not store.local:
        return 0
    digests = store.digests_in(folder)
    cutoff = now - RECENT_WRITE_GRACE
    deleted = 0
    for start in range(0, len(digests), settings.purge_batch_size):
        page = digests[start : start + settings.purge_batch_size]
        with get_session(settings.resolved_database_url) as session:
            held = held_elsewhere(page, session=session, released=())
        for digest in page:
            if digest in held:
                continue
            if dry_run:
                deleted += _past(store, digest, cutoff)
            elif store.delete(digest, written_before=cutoff):
                deleted += 1
    return deleted


def _past(store: BlobStore, digest: str, cutoff: datetime) -> bool:
    """Whether a dry run counts the blob: the test a real one's delete makes."""
    try:
        return store.written_before(digest, cutoff)
    except FileNotFoundError:  # gone meanwhile
        return False
