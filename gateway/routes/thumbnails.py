"""A small preview of one item's image, for the web page's results table."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from db.results import get_item
from gateway.deps import JobDep, SessionDep, SettingsDep, StoreDep, only_parameters
from gateway.errors import responses
from gateway.thumbnails import DEFAULT_SIDE, MAX_SIDE, MIN_SIDE, ThumbnailError, render_thumbnail

router = APIRouter(prefix="/v1/jobs", tags=["results"])

SideQuery = Annotated[
    int, Query(ge=MIN_SIDE, le=MAX_SIDE, description="Longest side of the preview, in pixels.")
]
JPEG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}}, "description": "The preview, as a JPEG."}
}
CACHE = "private, max-age=3600"  # an item's image never changes; only its owner may keep it


def stored_digest(item_id: uuid.UUID, job: JobDep, session: SessionDep) -> str:
    """Return the content hash of the job's item; 404 without one or once purged."""
    item = get_item(job.id, item_id, session=session)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"item {item_id} not found in this job")
    if not item.content_hash or job.images_purged_at is not None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this item's image is not stored")
    return item.content_hash


@router.get(
    "/{job_id}/items/{item_id}/thumbnail",
    response_class=Response,
    responses={**JPEG, **responses(400, 401, 404, 422, 429)},
    dependencies=[Depends(only_parameters("size"))],
)
async def read_thumbnail_route(
    request: Request,
    digest: Annotated[str, Depends(stored_digest)],
    settings: SettingsDep,
    store: StoreDep,
    size: SideQuery = DEFAULT_SIDE,
) -> Response:
    """Return a JPEG preview of an item's image, its longer side at most `size` pixels.

    404 for another tenant's job or item (like an unknown one), an item whose upload was
    refused, and an image already deleted by retention; 422 for a file that does not
    decode, or one over 25 megapixels that is not a JPEG. Two previews decode at a time.
    """
    pools = request.app.state.pools
    try:
        body = await pools.run(
            pools.thumbnails, render_thumbnail, store, digest, size, settings.max_image_pixels
        )
    except FileNotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this item's image is not stored") from None
    except ThumbnailError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return Response(body, media_type="image/jpeg", headers={"Cache-Control": CACHE})
