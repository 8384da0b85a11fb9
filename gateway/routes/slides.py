"""Slide jobs: name slides by reference, follow their progress, download their outputs.

The outputs import numpy, Pillow and core.slide_outputs when first asked for, not at the
gateway's start.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator

from fastapi import APIRouter, HTTPException, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from core.queue import publish_slides
from core.slide_sources import SourceRefusedError, check_reference
from db.jobs import create_job
from db.models import Item
from db.slides import NewSlide, add_slides, slide_rows
from db.tenant_rules import read_tenant_rules
from db.uploads import completed_blob
from gateway.callbacks import choose_callback
from gateway.deps import JobDep, PublisherDep, SessionDep, SettingsDep, StoreDep, TenantDep
from gateway.errors import responses
from gateway.links import job_links
from gateway.schemas import JobAccepted
from gateway.slide_schemas import SlideJobCreate, SlideList, SlideReference
from gateway.slide_views import (
    finished_slide,
    positive_column,
    slide_card,
    slide_tiles,
    slide_view,
    tile_labels,
)

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/jobs", tags=["slides"])


def uploaded_slide(
    index: int, reference: SlideReference, tenant: str, session: Session
) -> NewSlide:
    """Return the slide a completed upload of the tenant holds; 422 when there is none."""
    assert reference.upload_id is not None
    blob = completed_blob(session=session, tenant_id=tenant, upload_id=reference.upload_id)
    if blob is None:
        raise HTTPException(
            422, f"slides[{index}]: upload {reference.upload_id} is not a completed upload of yours"
        )
    return NewSlide(
        blob.url, blob.filename, reference.patient_id, reference.slide_id, content_hash=blob.sha256
    )


def referenced_slide(index: int, reference: SlideReference, allowed: list[str]) -> NewSlide:
    """Return the slide a reference names if the tenant may read it; 403/422 say why not."""
    assert reference.url is not None
    try:
        checked = check_reference(reference.url, allowed)
    except SourceRefusedError as exc:
        code = status.HTTP_403_FORBIDDEN if exc.forbidden else 422
        raise HTTPException(code, f"slides[{index}]: {exc}") from exc
    return NewSlide(checked.url, checked.filename, reference.patient_id, reference.slide_id)


def checked_slides(
    body: SlideJobCreate, allowed: list[str], tenant: str, session: Session
) -> list[NewSlide]:
    """Return the job's slides if the tenant may use every one; 403/422 name the first not."""
    return [
        uploaded_slide(index, reference, tenant, session)
        if reference.upload_id is not None
        else referenced_slide(index, reference, allowed)
        for index, reference in enumerate(body.slides)
    ]


@router.post(
    "/slides",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses=responses(400, 401, 403, 422, 429),
)
def create_slide_job_route(
    body: SlideJobCreate,
    tenant: TenantDep,
    settings: SettingsDep,
    publisher: PublisherDep,
    session: SessionDep,
) -> JobAccepted:
    """Submit whole-slide images: uploaded ones, or ones already in storage, by reference.

    A slide is either `upload_id`, a completed chunked upload of the tenant (otherwise a
    422), or `url`, read in place (nothing is copied). Each URL must lie under a prefix
    the operator allows the tenant (INFERQ_SLIDE_SOURCES): another scheme, a `.`/`..`
    segment or a query is a 422; a slide outside the tenant's
    prefixes (a symlink is judged where it leads) is a 403 and nothing is stored. Workers
    tile each slide (tissue only, at the model's pixel size) and classify its tiles in
    blocks; `GET /v1/jobs/{id}/slides` shows their progress.
    """
    slides = checked_slides(body, settings.slide_sources.get(tenant, []), tenant, session)
    rules = read_tenant_rules(tenant, session=session)
    callback = choose_callback(body.callback_url, tenant, rules, settings)
    job, _ = create_job([], session=session, tenant=tenant, callback_url=callback)
    slide_ids = add_slides(job, slides, session=session)
    session.commit()
    try:
        publish_slides(publisher.celery, [str(slide_id) for slide_id in slide_ids])
    except Exception:
        logger.warning("broker unreachable; %d slides wait for the sweeper", len(slide_ids))
    return JobAccepted(
        job_id=job.id, status="running", n_items=len(slide_ids), links=job_links(job.id)
    )


@router.get("/{job_id}/slides", response_model=SlideList, responses=responses(401, 404, 422, 429))
def list_slides_route(job: JobDep, session: SessionDep) -> SlideList:
    """Return a job's slides: status, progress over tile blocks, call and areas."""
    views = [
        slide_view(row, session.get_one(Item, row.id))
        for row in slide_rows(job.id, session=session)
    ]
    return SlideList(job_id=job.id, slides=views)


@router.get(
    "/{job_id}/slides/{slide_id}/heatmap.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **responses(401, 404, 409, 422, 429)},
)
def slide_heatmap_route(
    job: JobDep, slide_id: uuid.UUID, session: SessionDep, store: StoreDep
) -> Response:
    """Return the slide's thumbnail with the positive-class probability over its tiles."""
    import numpy as np
    from PIL import Image

    from core.slide_outputs import heatmap_png

    slide = finished_slide(job.id, slide_id, session)
    card = slide_card(slide, session)
    corners, probabilities = slide_tiles(slide, card, session)
    assert slide.thumbnail_hash and slide.width and slide.tile_size0
    thumbnail = np.asarray(Image.open(io.BytesIO(store.get(slide.thumbnail_hash))).convert("RGB"))
    png = heatmap_png(
        thumbnail, slide.width, corners, slide.tile_size0, positive_column(probabilities, card)
    )
    return Response(png, media_type="image/png")


@router.get(
    "/{job_id}/slides/{slide_id}/geojson",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/geo+json": {}}},
        **responses(401, 404, 409, 422, 429),
    },
)
def slide_geojson_route(job: JobDep, slide_id: uuid.UUID, session: SessionDep) -> StreamingResponse:
    """Return the slide's tiles as QuPath GeoJSON (level-0 pixels; docs/slides.md)."""
    from core.slide_outputs import geojson_features

    slide = finished_slide(job.id, slide_id, session)
    card = slide_card(slide, session)
    corners, probabilities = slide_tiles(slide, card, session)
    labels = tile_labels(probabilities, card)
    assert slide.tile_size0
    features = geojson_features(
        corners,
        probabilities,
        labels,
        slide.tile_size0,
        list(card.class_names),
        card.positive_class,
    )

    def body() -> Iterator[str]:
        yield '{"type": "FeatureCollection", "features": ['
        for index, feature in enumerate(features):
            yield ("," if index else "") + json.dumps(feature, separators=(",", ":"))
        yield "]}"

    name = f"{slide_id}.geojson"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(body(), media_type="application/geo+json", headers=headers)


@router.get(
    "/{job_id}/slides/{slide_id}/tiles.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}, **responses(401, 404, 409, 422, 429)},
)
def slide_tiles_csv_route(
    job: JobDep, slide_id: uuid.UUID, session: SessionDep
) -> StreamingResponse:
    """Return one CSV row per tile: minx,miny,width,height,prob_<class>... (level 0)."""
    from core.slide_outputs import tiles_csv_rows

    slide = finished_slide(job.id, slide_id, session)
    card = slide_card(slide, session)
    corners, probabilities = slide_tiles(slide, card, session)
    assert slide.tile_size0
    rows = tiles_csv_rows(corners, probabilities, slide.tile_size0, list(card.class_names))
    headers = {"Content-Disposition": f'attachment; filename="{slide_id}.csv"'}
    return StreamingResponse(rows, media_type="text/csv", headers=headers)
