"""Wire shapes of slide jobs: the references a job names and each slide's progress."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_SLIDES_PER_JOB = 1000


class SlideReference(BaseModel):
    """A slide the tenant uploaded, or one already in storage it may read (INFERQ_SLIDE_SOURCES)."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        None,
        min_length=1,
        max_length=2048,
        description="gs://bucket/key, s3://bucket/key or an absolute local path.",
    )
    upload_id: uuid.UUID | None = Field(
        None, description="A completed chunked upload of this tenant (POST /v1/uploads)."
    )
    patient_id: str | None = Field(None, max_length=255)
    slide_id: str | None = Field(None, max_length=255, description="The lab's slide name.")

    @model_validator(mode="after")
    def one_source(self) -> SlideReference:
        """Require exactly one of `url` and `upload_id`."""
        if (self.url is None) == (self.upload_id is None):
            raise ValueError("give exactly one of url and upload_id")
        return self


class SlideJobCreate(BaseModel):
    """A job of slides named by reference; nothing is copied."""

    model_config = ConfigDict(extra="forbid")

    slides: list[SlideReference] = Field(min_length=1, max_length=MAX_SLIDES_PER_JOB)
    callback_url: str | None = Field(None, max_length=2048)


class SlideLinks(BaseModel):
    """Where a slide's outputs are, once it succeeded."""

    heatmap: str
    geojson: str
    tiles_csv: str


class SlidePublic(BaseModel):
    """One slide: status, progress over its tile blocks, and its call when done."""

    id: uuid.UUID
    filename: str
    patient_id: str | None
    status: str
    error: str | None
    width: int | None
    height: int | None
    mpp: float | None = Field(description="µm per pixel at level 0, when the slide records it.")
    n_tiles: int | None = Field(description="Tissue tiles to classify, once tiled.")
    blocks_done: int
    n_blocks: int | None
    progress: float = Field(description="Share of the slide's tile blocks recorded, 0-1.")
    call: str | None = Field(description="The slide's call by the per-patient rule.")
    positive_tiles: int | None
    positive_area_mm2: float | None
    tissue_area_mm2: float | None
    links: SlideLinks


class SlideList(BaseModel):
    """A job's slides in submission order."""

    job_id: uuid.UUID
    slides: list[SlidePublic]
