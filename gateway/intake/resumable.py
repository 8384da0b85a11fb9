"""Resumable uploads' rules: find the tenant's upload, take a chunk, join the chunks.

The routes (gateway/routes/uploads.py) stay thin; what a chunk must be and what completion
does live here, beside the request budget that every chunk body is charged to.
"""

from __future__ import annotations

import uuid

from fastapi import HTTPException, status
from sqlalchemy.orm import Session

from core.storage import BlobStore, content_hash
from core.upload_schemas import ChunkReceived, chunk_count, chunk_length
from core.upload_store import ChunkStore
from db.upload_models import Upload, UploadStatus
from db.uploads import get_upload, mark_complete, received_chunks, record_chunk, reset_chunks


def find_upload(
    upload_id: uuid.UUID, session: Session, tenant: str, *, lock: bool, share: bool = False
) -> Upload:
    """Return the tenant's upload or raise 404 (the same for another tenant's)."""
    upload = get_upload(upload_id, session=session, tenant=tenant, for_update=lock, for_share=share)
    if upload is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"upload {upload_id} not found")
    return upload


def require_open(upload: Upload) -> None:
    """Raise 409 unless the upload still takes chunks."""
    if upload.status != UploadStatus.OPEN:
        raise HTTPException(status.HTTP_409_CONFLICT, f"upload {upload.id} is already complete")


def received_indexes(upload: Upload, session: Session) -> list[int]:
    """Return the indexes of the chunks an upload has received."""
    return [index for index, _ in received_chunks(upload.id, session=session)]


def expected_length(upload: Upload, index: int) -> int:
    """Return the exact length chunk `index` must have; 409 if complete, 422 past the end."""
    require_open(upload)
    count = chunk_count(upload.size_bytes, upload.chunk_bytes)
    if index >= count:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"chunk index {index} is out of range: the upload has chunks 0 to {count - 1}",
        )
    return chunk_length(index, upload.size_bytes, upload.chunk_bytes)


def take_chunk(upload: Upload, index: int, data: bytes, session: Session, store: BlobStore) -> str:
    """Store a chunk and record it; return its SHA-256. Other bytes than before are a 409.

    The caller holds a shared lock on the upload, so completion, abort and the purge wait.
    """
    require_open(upload)
    digest = content_hash(data)
    held = dict(received_chunks(upload.id, session=session)).get(index)
    if held is None:  # stored first, recorded second: a row always names a stored file
        ChunkStore(store).put_chunk(upload.id, index, data, digest)
        held = record_chunk(upload.id, index, session=session, size=len(data), sha256=digest)
    if held != digest:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"chunk {index} was received before with other bytes (SHA-256 {held})",
        )
    return digest


def chunk_answer(
    upload: Upload, index: int, size: int, digest: str, session: Session
) -> ChunkReceived:
    """Return the answer to a chunk taken."""
    return ChunkReceived(
        upload_id=upload.id,
        index=index,
        size=size,
        sha256=digest,
        received_count=len(received_indexes(upload, session)),
        chunk_count=chunk_count(upload.size_bytes, upload.chunk_bytes),
    )


def complete_upload(upload: Upload, session: Session, store: BlobStore) -> None:
    """Join a locked open upload's chunks into a blob, check it and mark the upload complete.

    409 while chunks are missing. On a size or SHA-256 mismatch the chunks are discarded
    (committed, so the reset stands) and 422 says so.
    """
    count = chunk_count(upload.size_bytes, upload.chunk_bytes)
    chunks = received_chunks(upload.id, session=session)
    missing = sorted(set(range(count)) - {index for index, _ in chunks})
    if missing:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{len(missing)} of {count} chunks missing, first {missing[:10]}",
        )
    store_chunks = ChunkStore(store)
    written = store_chunks.assemble(upload.id, chunks, upload.sha256)
    if written.sha256 != upload.sha256 or written.size != upload.size_bytes:
        reset_chunks(upload, session=session)
        session.commit()  # the reset stands although the answer is an error
        store_chunks.discard(upload.id)
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"the {written.size} bytes received have SHA-256 {written.sha256}, not the "
            f"declared {upload.sha256}; the chunks were discarded: send them again",
        )
    mark_complete(upload, session=session, blob_url=store.url_for(written.sha256))
    session.commit()  # recorded before the chunks go, so a crash leaves a usable upload
    store_chunks.discard(upload.id)
