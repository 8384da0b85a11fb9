"""Slide jobs through the client: name slides by reference, follow them, fetch outputs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Literal

from client.api import InferqClient
from client.models import ApiModel, JobAccepted

SlideOutput = Literal["heatmap", "geojson", "tiles_csv"]
SUFFIXES: dict[SlideOutput, str] = {"heatmap": ".png", "geojson": ".geojson", "tiles_csv": ".csv"}


class SlideLinks(ApiModel):
    """Where a slide's outputs are."""

    heatmap: str
    geojson: str
    tiles_csv: str


class SlidePublic(ApiModel):
    """One slide of a job, as the gateway reports it."""

    id: str
    filename: str
    patient_id: str | None = None
    status: str
    error: str | None = None
    n_tiles: int | None = None
    blocks_done: int = 0
    n_blocks: int | None = None
    progress: float = 0.0
    call: str | None = None
    positive_tiles: int | None = None
    positive_area_mm2: float | None = None
    tissue_area_mm2: float | None = None
    links: SlideLinks


def submit_slides(
    client: InferqClient,
    urls: Sequence[str] = (),
    *,
    upload_ids: Sequence[str] = (),
    patient_id: str | None = None,
) -> JobAccepted:
    """Create a job of slides: by reference (gs://, s3:// or paths the tenant may read) or
    completed uploads of the tenant."""
    slides = [{"url": url, "patient_id": patient_id} for url in urls]
    slides += [{"upload_id": upload_id, "patient_id": patient_id} for upload_id in upload_ids]
    response = client.request("POST", "/v1/jobs/slides", json={"slides": slides})
    return JobAccepted.model_validate(response.json())


def list_slides(client: InferqClient, job_id: str) -> list[SlidePublic]:
    """Return a job's slides with their progress and calls."""
    body = client.request("GET", f"/v1/jobs/{job_id}/slides").json()
    return [SlidePublic.model_validate(slide) for slide in body["slides"]]


def download_output(
    client: InferqClient, slide: SlidePublic, output: SlideOutput, folder: Path
) -> Path:
    """Write one of a succeeded slide's outputs into `folder`, named after the slide."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = PurePosixPath(slide.filename).stem or slide.id
    path = folder / f"{stem}-{slide.id[:8]}{SUFFIXES[output]}"
    response = client.request("GET", getattr(slide.links, output))
    path.write_bytes(response.content)
    return path
