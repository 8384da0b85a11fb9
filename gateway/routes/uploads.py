"""Resumable chunked uploads: create, send chunks in any order, resume, complete, abort.

Whole-slide images are far larger than one request may be (Cloud Run: 32 MiB), so a file
arrives as fixed-size chunks, each stored in blob storage as it comes (any gateway
instance takes any chunk), then streamed into one content-addressed blob and checked
against the declared size and SHA-256.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from core.storage import BlobStore, content_hash
from core.upload_schemas import (
    ChunkReceived,
    UploadCreate,
    UploadPublic,
    chunk_count,
    chunk_length,
)
from core.upload_store import ChunkStore
from db.upload_models import Upload, UploadStatus
from db.uploads import (
    NewUpload,
    count_open_uploads,
    create_upload,
    delete_upload,
    get_upload,
    mark_complete,
    received_chunks,
    record_chunk,
    reset_chunks,
)
from gateway.deps import (
    SessionDep,
    SessionOpener,
    SessionOpenerDep,
    SettingsDep,
    StoreDep,
    TenantDep,
)
from gateway.intake.budget import RequestBudget
from gateway.intake.chunks import read_chunk
from gateway.intake.names import clean_filename
from gateway.schemas import ErrorResponse
from gateway.upload_views import upload_view

router = APIRouter(prefix="/v1/uploads", tags=["uploads"])

ChunkIndex = Annotated[int, Path(ge=0, description="The chunk's index, from 0.")]

_MEANINGS = {
    400: "The body is sent as JSON but is not text (not UTF-8).",
    401: "No valid API key.",
    404: "No such upload; another tenant's upload gets the same answer.",
    409: (
        "Too many open uploads for the tenant (POST); a chunk already received with a "
        "different body (PUT); the upload is already complete (PUT, DELETE); or chunks are "
        "still missing (complete: the message lists the first)."
    ),
    413: "The declared size is over the limit, or a chunk body is longer than its index takes.",
    422: (
        "A body that is not a JSON object; invalid fields (a SHA-256 that is not 64 hex "
        "digits, a size under 1); a chunk index past the last; a chunk body shorter than "
        "its index takes; or (complete) the "
        "assembled bytes do not match the declared SHA-256: the chunks are discarded and "
        "the upload starts again from no chunks."
    ),
    429: "Backpressure: the tenant's requests a minute are at their limit.",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Return FastAPI `responses=` entries for the upload routes' error codes."""
    return {code: {"model": ErrorResponse, "description": _MEANINGS[code]} for code in codes}


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


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UploadPublic,
    responses=responses(400, 401, 409, 413, 422, 429),
)
def create_upload_route(
    declared: UploadCreate, tenant: TenantDep, settings: SettingsDep, session: SessionDep
) -> UploadPublic:
    """Start an upload of one file: its name, exact size and SHA-256.

    The answer gives the chunk size and count: send every chunk with
    `PUT /v1/uploads/{id}/chunks/{index}`, then `POST /v1/uploads/{id}/complete`.
    """
    if declared.size > settings.max_chunked_upload_bytes:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"size {declared.size} is over the limit of {settings.max_chunked_upload_bytes} bytes",
        )
    limit = settings.max_open_uploads_per_tenant
    if count_open_uploads(session=session, tenant=tenant) >= limit:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{limit} uploads are open, the limit: complete or delete one first",
        )
    new = NewUpload(
        clean_filename(declared.filename, 0),
        declared.size,
        declared.sha256,
        settings.upload_chunk_bytes,
    )
    upload = create_upload(new, session=session, tenant=tenant)
    session.commit()  # before the answer: its first chunk may come on another connection
    return upload_view(upload, [], settings)


@router.get("/{upload_id}", response_model=UploadPublic, responses=responses(401, 404, 422, 429))
def read_upload_route(
    upload_id: uuid.UUID, tenant: TenantDep, settings: SettingsDep, session: SessionDep
) -> UploadPublic:
    """Return an upload and the chunks it has received, so a client sends only the rest."""
    upload = find_upload(upload_id, session, tenant, lock=False)
    return upload_view(upload, received_indexes(upload, session), settings)


@router.put(
    "/{upload_id}/chunks/{index}",
    response_model=ChunkReceived,
    responses=responses(401, 404, 409, 413, 422, 429),
)
async def put_chunk_route(
    upload_id: uuid.UUID,
    index: ChunkIndex,
    request: Request,
    tenant: TenantDep,
    settings: SettingsDep,
    store: StoreDep,
    open_session: SessionOpenerDep,
) -> ChunkReceived:
    """Store one chunk (the raw body, exactly its index's length), in any order.

    Sending a chunk again with the same bytes is answered like the first time; other
    bytes for a chunk already received are a 409.
    """

    def expected() -> int:
        with open_session() as session:
            upload = find_upload(upload_id, session, tenant, lock=False)
            require_open(upload)
            count = chunk_count(upload.size_bytes, upload.chunk_bytes)
            if index >= count:
                raise HTTPException(
                    status.HTTP_422_UNPROCESSABLE_CONTENT,
                    f"chunk index {index} is out of range: the upload has chunks 0 to {count - 1}",
                )
            return chunk_length(index, upload.size_bytes, upload.chunk_bytes)

    length = await run_in_threadpool(expected)
    data = await read_chunk(request, index, length, RequestBudget.from_settings(settings))
    return await run_in_threadpool(
        take_chunk, open_session, store, (upload_id, tenant), index, data
    )


def take_chunk(
    open_session: SessionOpener,
    store: BlobStore,
    owner: tuple[uuid.UUID, str],
    index: int,
    data: bytes,
) -> ChunkReceived:
    """Store a chunk and record it; a chunk received before must have the same bytes."""
    upload_id, tenant = owner
    digest = content_hash(data)
    with open_session() as session:
        upload = find_upload(upload_id, session, tenant, lock=False, share=True)
        require_open(upload)
        held = dict(received_chunks(upload_id, session=session)).get(index)
        if held is None:  # stored first, recorded second: a row always names a stored file
            ChunkStore(store).put_chunk(upload_id, index, data, digest)
            held = record_chunk(upload_id, index, session=session, size=len(data), sha256=digest)
        if held != digest:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"chunk {index} was received before with other bytes (SHA-256 {held})",
            )
        return ChunkReceived(
            upload_id=upload_id,
            index=index,
            size=len(data),
            sha256=held,
            received_count=len(received_indexes(upload, session)),
            chunk_count=chunk_count(upload.size_bytes, upload.chunk_bytes),
        )


@router.post(
    "/{upload_id}/complete",
    response_model=UploadPublic,
    responses=responses(401, 404, 409, 422, 429),
)
def complete_upload_route(
    upload_id: uuid.UUID,
    tenant: TenantDep,
    settings: SettingsDep,
    store: StoreDep,
    session: SessionDep,
) -> UploadPublic:
    """Join the chunks into one stored file and check its size and SHA-256.

    Completing again answers the same. On a SHA-256 mismatch (422) the chunks are
    discarded and the upload is open again with no chunks: send them all again.
    """
    upload = find_upload(upload_id, session, tenant, lock=True)  # completions take turns
    count = chunk_count(upload.size_bytes, upload.chunk_bytes)
    if upload.status == UploadStatus.COMPLETE:
        return upload_view(upload, list(range(count)), settings)
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
    return upload_view(upload, list(range(count)), settings)


@router.delete(
    "/{upload_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(401, 404, 409, 422, 429),
)
def delete_upload_route(
    upload_id: uuid.UUID, tenant: TenantDep, store: StoreDep, session: SessionDep
) -> Response:
    """Abort an open upload: its chunks are deleted and its ID is forgotten."""
    upload = find_upload(upload_id, session, tenant, lock=True)
    require_open(upload)
    delete_upload(upload.id, session=session)
    session.commit()
    ChunkStore(store).discard(upload.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
