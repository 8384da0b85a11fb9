"""Build a slide's public view and read what its outputs need (tiles, model card)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from fastapi import HTTPException, status
from sqlalchemy.orm import Session

from core.decision import DecisionRule
from core.model_card import ModelCard, validate_card
from db.models import Item, ServedModel
from db.slide_tables import Slide, SlideStatus
from db.slides import read_slide_tiles
from gateway.slide_schemas import SlideLinks, SlidePublic

if TYPE_CHECKING:  # arrays pass through here; numpy loads with the first slide output
    import numpy as np


def slide_links(job_id: uuid.UUID, slide_id: uuid.UUID) -> SlideLinks:
    """Return where a slide's outputs live."""
    base = f"/v1/jobs/{job_id}/slides/{slide_id}"
    return SlideLinks(
        heatmap=f"{base}/heatmap.png", geojson=f"{base}/geojson", tiles_csv=f"{base}/tiles.csv"
    )


def slide_view(slide: Slide, item: Item) -> SlidePublic:
    """Return a slide's public view."""
    progress = slide.blocks_done / slide.n_blocks if slide.n_blocks else 0.0
    if slide.status == SlideStatus.SUCCEEDED:
        progress = 1.0
    return SlidePublic(
        id=slide.id, filename=item.filename, patient_id=item.patient_id, status=slide.status,
        error=slide.error, width=slide.width, height=slide.height, mpp=slide.mpp,
        n_tiles=slide.n_tiles, blocks_done=slide.blocks_done, n_blocks=slide.n_blocks,
        progress=round(progress, 4), call=slide.call, positive_tiles=slide.positive_tiles,
        positive_area_mm2=slide.positive_area_mm2, tissue_area_mm2=slide.tissue_area_mm2,
        links=slide_links(slide.job_id, slide.id),
    )  # fmt: skip


def finished_slide(job_id: uuid.UUID, slide_id: uuid.UUID, session: Session) -> Slide:
    """Return a job's succeeded slide; 404 if it is not the job's, 409 while not done."""
    slide = session.get(Slide, slide_id)
    if slide is None or slide.job_id != job_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"slide {slide_id} not found in this job")
    if slide.status != SlideStatus.SUCCEEDED:
        reason = f": {slide.error}" if slide.error else ""
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"slide {slide_id} is {slide.status}{reason}; outputs come when it succeeded",
        )
    return slide


def slide_card(slide: Slide, session: Session) -> ModelCard:
    """Return the card of the model that classified a slide."""
    served = session.get(ServedModel, slide.model_id) if slide.model_id else None
    if served is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "the slide's model is no longer recorded")
    return validate_card(served.card, source=f"model {served.id}")


def slide_tiles(slide: Slide, card: ModelCard, session: Session) -> tuple[np.ndarray, np.ndarray]:
    """Return a slide's tile corners and probabilities."""
    return read_slide_tiles(slide.id, len(card.class_names), session=session)


def tile_labels(probabilities: np.ndarray, card: ModelCard) -> list[str]:
    """Return each tile's label by the card's decision rule."""
    rule = DecisionRule.from_card(card)
    return [card.class_names[i] for i in rule.indices(probabilities)]


def positive_column(probabilities: np.ndarray, card: ModelCard) -> np.ndarray:
    """Return the positive class's probabilities (the last class when the card names none)."""
    name = card.positive_class or card.class_names[-1]
    return probabilities[:, card.class_names.index(name)]
