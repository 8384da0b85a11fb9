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
from starlette.concurrency import run_in_threadpool

from core.upload_schemas import (
    ChunkReceived,
    UploadCreate,
    UploadPublic,
)
from core.upload_store import ChunkStore
from db.upload_models import UploadStatus
from db.uploads import (
    NewUpload,
    count_open_uploads,
    create_upload,
    delete_upload,
)
from gateway.deps import (
    SessionDep,
    SessionOpenerDep,
    SettingsDep,
    StoreDep,
    TenantDep,
)
from gateway.intake.budget import RequestBudget
from gateway.intake.chunks import ChunkSlots, read_chunk
from gateway.intake.names import clean_filename
from gateway.intake.resumable import (
    chunk_answer,
    complete_upload,
    expected_length,
    find_upload,
    received_indexes,
    require_open,
    take_chunk,
)
from gateway.schemas import ErrorResponse
from gateway.upload_views import upload_view

router = APIRouter(prefix="/v1/uploads", tags=["uploads"])

ChunkIndex = Annotated[int, Path(ge=0, description="The chunk's index, from 0.")]

_MEANINGS = {
    400: (
        "The body is sent as JSON but is not text, not UTF-8 (create); the client left "
        "before the chunk's body was complete (PUT)."
    ),
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
    429: (
        "Backpressure: the tenant's requests a minute are at their limit, or (PUT) this "
        "gateway is reading INFERQ_MAX_CHUNKS_IN_FLIGHT chunks already; retry after "
        "Retry-After."
    ),
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Return FastAPI `responses=` entries for the upload routes' error codes."""
    return {code: {"model": ErrorResponse, "description": _MEANINGS[code]} for code in codes}


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
        min(settings.upload_chunk_bytes, settings.max_upload_bytes),  # a chunk fits a request
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
    responses=responses(400, 401, 404, 409, 413, 422, 429),
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
            return expected_length(find_upload(upload_id, session, tenant, lock=False), index)

    def take() -> ChunkReceived:
        with open_session() as session:
            upload = find_upload(upload_id, session, tenant, lock=False, share=True)
            digest = take_chunk(upload, index, data, session, store)
            return chunk_answer(upload, index, len(data), digest, session)

    length = await run_in_threadpool(expected)
    slots: ChunkSlots = request.app.state.chunk_slots
    with slots.slot():  # the body is in memory until it is stored
        data = await read_chunk(request, index, length, RequestBudget.from_settings(settings))
        return await run_in_threadpool(take)


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
    if upload.status == UploadStatus.OPEN:
        complete_upload(upload, session, store)
    return upload_view(upload, received_indexes(upload, session), settings)


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
