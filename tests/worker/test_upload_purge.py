"""The purge's upload step: idle open uploads go with their chunks; completed ones keep
their blobs until they expire, even when a purged job shared the bytes, and then only the
jobs that name them hold the blob."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from core.storage import BlobStore, content_hash
from core.upload_store import ChunkStore
from db.models import utc_now
from db.session import get_session
from db.upload_models import Upload
from db.uploads import NewUpload, create_upload, mark_complete, record_chunk
from tests.worker.test_purge import finish, purge_settings, submit
from worker.purge import purge_all, purge_once


def open_upload(url: str, chunks: ChunkStore, data: bytes, idle: timedelta) -> uuid.UUID:
    """Create an open upload holding one chunk, last touched `idle` ago."""
    digest = content_hash(data)
    new = NewUpload("slide.svs", 2 * len(data), "0" * 64, len(data))
    with get_session(url) as session:
        upload = create_upload(new, session=session, tenant="lab")
        chunks.put_chunk(upload.id, 0, data, digest)
        record_chunk(upload.id, 0, session=session, size=len(data), sha256=digest)
        then = utc_now() - idle
        session.execute(update(Upload).where(Upload.id == upload.id).values(updated_at=then))
        return upload.id


def test_idle_open_uploads_are_purged_with_their_chunks(tmp_path: Path, database_url: str) -> None:
    settings = purge_settings(tmp_path, database_url, upload_expiry_hours=1)
    store = BlobStore(settings.resolved_storage_url)
    chunks = ChunkStore(store)
    idle = open_upload(database_url, chunks, b"idle chunk", timedelta(hours=2))
    busy = open_upload(database_url, chunks, b"busy chunk", timedelta(minutes=5))
    dry = purge_once(settings, store, dry_run=True)
    assert dry.uploads_expired == 1 and (tmp_path / "blobs" / "uploads" / str(idle)).exists()
    assert purge_all(settings, store).uploads_expired == 1
    with get_session(database_url) as session:
        assert session.get(Upload, idle) is None and session.get(Upload, busy) is not None
    assert not (tmp_path / "blobs" / "uploads" / str(idle)).exists()
    assert (tmp_path / "blobs" / "uploads" / str(busy)).exists()


def test_a_completed_uploads_blob_outlives_a_purged_job_with_the_same_bytes(
    tmp_path: Path, database_url: str
) -> None:
    settings = purge_settings(tmp_path, database_url, blob_retention_hours=1)
    store = BlobStore(settings.resolved_storage_url)
    data = b"the same bytes, sent as an image and as a slide"
    job_id, item_ids = submit(database_url, store, [data])
    finish(database_url, job_id, item_ids, ago=timedelta(hours=3))
    with get_session(database_url) as session:
        new = NewUpload("s.svs", len(data), content_hash(data), len(data))
        upload = create_upload(new, session=session, tenant="lab")
        mark_complete(upload, session=session, blob_url=store.url_for(content_hash(data)))
    report = purge_all(settings, store)
    assert report.image_jobs == 1 and report.blobs_shared == 1 and report.uploads_expired == 0
    assert store.get(content_hash(data)) == data


def completed_upload(url: str, store: BlobStore, data: bytes, completed: timedelta) -> uuid.UUID:
    """Store bytes as a completed upload, finished (and its blob written) `completed` ago."""
    digest = store.put(data)
    then = utc_now() - completed
    os.utime(store.path_for(digest), (then.timestamp(), then.timestamp()))
    with get_session(url) as session:
        upload = create_upload(
            NewUpload("s.svs", len(data), digest, len(data)), session=session, tenant="lab"
        )
        mark_complete(upload, session=session, blob_url=store.url_for(digest))
        session.execute(update(Upload).where(Upload.id == upload.id).values(completed_at=then))
        return upload.id


def test_an_expired_completed_upload_goes_with_its_blob_unless_a_kept_job_holds_it(
    tmp_path: Path, database_url: str
) -> None:
    settings = purge_settings(tmp_path, database_url, upload_expiry_hours=1)
    store = BlobStore(settings.resolved_storage_url)
    unused, named, fresh = b"never named", b"named by a running job", b"just completed"
    completed_upload(database_url, store, unused, timedelta(hours=3))
    completed_upload(database_url, store, named, timedelta(hours=3))
    kept = completed_upload(database_url, store, fresh, timedelta(minutes=10))
    submit(database_url, store, [named])  # a job still running names the same bytes
    os.utime(store.path_for(content_hash(named)), (0, 0))  # put() renewed it: old again
    dry = purge_once(settings, store, dry_run=True)
    assert dry.uploads_expired == 2 and store.get(content_hash(unused)) == unused
    report = purge_all(settings, store)
    assert report.uploads_expired == 2 and report.blobs_deleted == 1
    assert not Path(store.path_for(content_hash(unused))).exists()
    assert store.get(content_hash(named)) == named and store.get(content_hash(fresh)) == fresh
    with get_session(database_url) as session:
        assert [u.id for u in session.query(Upload)] == [kept]
