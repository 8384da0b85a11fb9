"""Tile a claimed slide: read its pixel size and thumbnail, mask the tissue, plan the tiles
and store them as blocks. Runs in a worker, so the gateway never opens a slide; memory is
the thumbnail plus one int32 pair per tile (400 KB for 50,000 tiles)."""

from __future__ import annotations

import io
import logging
import uuid

import numpy as np
from PIL import Image

from core.model_card import ModelCard
from core.settings import Settings
from core.storage import BlobStore
from db.session import get_session
from db.slides import Tiling, claim_slide, fail_slide, held_slide, store_tiling
from worker.slides.grid import TileGeometry, choose_geometry, plan_tiles
from worker.slides.mask import tissue_mask
from worker.slides.reader import Slide, SlideError, open_slide

logger = logging.getLogger(__name__)


def png_bytes(pixels: np.ndarray) -> bytes:
    """Encode RGB pixels as PNG."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def plan_slide(
    slide: Slide, card: ModelCard, settings: Settings, store: BlobStore
) -> tuple[Tiling, np.ndarray]:
    """Return a slide's tiling and its tiles' level-0 corners; SlideError says why not."""
    geometry: TileGeometry = choose_geometry(
        slide.mpp,
        slide.downsamples,
        card.training_images.pixel_size_um,
        card.input_size[1],
        settings.slide_tile_overlap,
    )
    thumbnail = slide.thumbnail(settings.slide_thumbnail_px)
    mask = tissue_mask(thumbnail, settings.slide_min_object_px)
    corners = plan_tiles(mask, slide.dimensions, geometry, settings.slide_min_tissue)
    if not len(corners):
        raise SlideError("no tissue found: no tile has enough tissue to be classified")
    width, height = slide.dimensions
    scale = width / mask.shape[1]
    tissue = float(mask.sum()) * (scale * slide.mpp) ** 2 / 1e6 if slide.mpp else None
    tiling = Tiling(
        width=width,
        height=height,
        mpp=slide.mpp,
        tile_size0=geometry.size0,
        level=geometry.level,
        read_size=geometry.read_size,
        thumbnail_hash=store.put(png_bytes(thumbnail)),
        tissue_area_mm2=tissue,
    )
    return tiling, corners


def tile_slide(
    slide_id: uuid.UUID, card: ModelCard, settings: Settings, store: BlobStore, worker_id: str
) -> int:
    """Tile one queued slide into blocks; return how many blocks (0 if it was not ours)."""
    url = settings.resolved_database_url
    with get_session(url) as session:
        row = claim_slide(
            slide_id,
            session=session,
            worker_id=worker_id,
            lease_seconds=settings.lease_seconds,
            max_attempts=settings.max_attempts,
        )
        source = row.source if row is not None else None
    if source is None:
        return 0
    try:
        slide = open_slide(source)
        try:
            tiling, corners = plan_slide(slide, card, settings, store)
        finally:
            slide.close()
    except SlideError as exc:
        logger.info("slide %s failed: %s", slide_id, exc)
        with get_session(url) as session:
            fail_slide(slide_id, str(exc), session=session)
        return 0
    with get_session(url) as session:
        held = held_slide(slide_id, session=session, worker_id=worker_id)
        if held is None:
            return 0  # the lease ran out and another worker tiles it
        blocks = store_tiling(held, tiling, corners, settings.slide_block_tiles, session=session)
    logger.info("slide %s tiled: %d tiles in %d blocks", slide_id, len(corners), blocks)
    return blocks
