"""Response schemas of the public API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from core.job_status import JobStatus
from core.priority import Priority


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx answer: a machine-readable code and a sentence for people."""

    detail: str = Field(description="What went wrong and what to do about it.")


class RejectedFile(BaseModel):
    """A part of an upload that was not accepted as an image."""

    filename: str
    reason: str


class DuplicateFile(BaseModel):
    """A file not added because an item of the job already has the same content."""

    filename: str
    content_hash: str


class ManifestLine(BaseModel):
    """A manifest line that was not used, and why."""

    line: int
    reason: str


class ManifestReport(BaseModel):
    """How the job's manifest matched its items so far."""

    n_rows: int = Field(description="Manifest rows stored on the job.")
    n_matched: int = Field(description="Rows that name at least one item.")
    unmatched: list[str] = Field(
        description="File names of rows that match no item (yet, while the job is open)."
    )
    errors: list[ManifestLine] = Field(
        default_factory=list,
        description="Lines of this request's manifest that were not used (the first 1,000).",
    )
    n_errors: int = Field(0, description="How many lines of this request's manifest were not used.")


class JobLinks(BaseModel):
    """Where to follow a job."""

    self: str
    results: str
    csv: str
    summary: str
    items: str = Field(description="POST more files here while the job is open.")
    close: str = Field(description="POST here to seal an open job.")


class JobAccepted(BaseModel):
    """Answer to a submission: the job exists and its images are queued."""

    job_id: uuid.UUID
    status: JobStatus
    n_items: int = Field(description="Images queued for inference by this request.")
    n_rejected: int = Field(0, description="Parts refused as non-images; they are failed items.")
    rejected: list[RejectedFile] = Field(default_factory=list)
    n_duplicates: int = Field(0, description="Files already in the job (same content): skipped.")
    duplicates: list[DuplicateFile] = Field(default_factory=list)
    n_skipped: int = Field(0, description="Archive members skipped as clutter or hidden files.")
    skipped: list[str] = Field(default_factory=list)
    manifest: ManifestReport | None = None
    links: JobLinks
    priority: Priority = Field(
        Priority.NORMAL,
        description="The job's priority: asked, the tenant's default or by size, within the "
        "tenant's cap.",
    )


class JobCounts(BaseModel):
    """How many of a job's items are in each state."""

    total: int
    queued: int
    running: int
    succeeded: int
    failed: int
    cancelled: int


class SlideProgress(BaseModel):
    """How far a job's whole-slide images are: tiles recorded of those planned so far."""

    slides: int
    tiles: int = Field(description="Tissue tiles of the slides tiled so far.")
    tiles_done: int = Field(description="Tiles whose probabilities are recorded.")


class JobPublic(BaseModel):
    """A job's status and progress."""

    job_id: uuid.UUID
    status: JobStatus
    counts: JobCounts
    created_at: datetime
    closed_at: datetime | None
    finished_at: datetime | None
    cancelled_at: datetime | None
    model: list[str] = Field(description="name:version of every model that produced results.")
    links: JobLinks
    slides: SlideProgress | None = Field(
        None, description="Tile progress of the job's slides (GET /v1/jobs/{id}/slides: each)."
    )
    priority: Priority = Field(Priority.NORMAL, description="The job's priority.")
    images_expire_at: datetime | None = Field(
        None,
        description="When the job's images are deleted (final time plus the tenant's "
        "INFERQ_BLOB_RETENTION_HOURS); null while the job is not final.",
    )
    expires_at: datetime | None = Field(
        None,
        description="When the job, its items, results and manifest are deleted (final time "
        "plus the tenant's INFERQ_RESULT_RETENTION_DAYS); null while the job is not final.",
    )


class JobList(BaseModel):
    """A page of jobs, newest first."""

    jobs: list[JobPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class JobClosed(JobPublic):
    """A sealed job, with the manifest rows that never matched an item."""

    manifest: ManifestReport | None = None


class Latency(BaseModel):
    """Milliseconds an item spent waiting, in the model, and from upload to result."""

    inference: float | None = Field(
        description="The item's share of its batch's model time: `batch` / `batch_size`."
    )
    queue: float | None = Field(description="From upload to a worker's claim.")
    total: float | None = Field(description="From upload to result.")
    batch: float | None = Field(
        None,
        description="The model time of the whole batch the item ran in (null for results "
        "written before batches were recorded, whose `inference` is this batch time).",
    )


class ResultItem(BaseModel):
    """One image and, once done, its classification."""

    item_id: uuid.UUID
    filename: str
    status: str
    label: str | None = Field(
        description="The model card's decision rule applied to scores: the positive class "
        "when its score reaches the card's threshold, else the best other class (argmax "
        "without a positive class)."
    )
    probability: float | None = Field(description="The score of `label`.")
    scores: dict[str, float] | None = Field(description="Every class's probability.")
    latency_ms: Latency
    batch_size: int | None = Field(
        None, description="Images in the batch the item ran in (across jobs and tenants)."
    )
    model_name: str | None
    model_version: str | None
    model_id: int | None = Field(None, description="The served model's row (GET /v1/models).")
    attempts: int
    error: str | None
    true_label: str | None = Field(None, description="From the manifest.")
    patient_id: str | None = Field(None, description="From the manifest.")
    slide_id: str | None = Field(None, description="From the manifest.")
    attributes: dict[str, str] | None = Field(None, description="Other manifest columns.")
    warnings: list[str] = Field(
        default_factory=list,
        description="Ways the image is unlike the model's training images (`grayscale input`, "
        "`tile 2.0x the trained size`): its scores are less to be trusted. Empty when none, "
        "or when the model's card does not say what it was trained on.",
    )


class ResultPage(BaseModel):
    """A page of results; pass next_cursor as `cursor` for the next page."""

    items: list[ResultItem]
    next_cursor: str | None


class Prediction(BaseModel):
    """Synchronous-style answer of POST /predict."""

    job_id: uuid.UUID
    label: str
    probability: float
    scores: dict[str, float]
    latency_ms: float = Field(description="From upload to result, as measured by the gateway.")
    inference_ms: float = Field(
        description="The image's share of its batch's model time: `batch_ms` / `batch_size`."
    )
    batch_ms: float | None = Field(None, description="Model time of the image's whole batch.")
    batch_size: int | None = Field(None, description="Images in that batch.")
    model_name: str
    model_version: str
    model_id: int | None = Field(None, description="The served model's row (GET /v1/models).")
    warnings: list[str] = Field(
        default_factory=list, description="Ways the image is unlike the training images."
    )


class PredictionPending(BaseModel):
    """Answer of POST /predict (202) when the result was not ready within the timeout."""

    job_id: uuid.UUID
    status: Literal["queued", "running"]
    detail: str = Field(description="What to do next: poll the job's links.")
    links: JobLinks
