"""Typed answers of the inferq API, as the client reads them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from core.job_status import FINAL_STATUSES


class ApiModel(BaseModel):
    """Base of every answer: fields the client does not know yet are ignored."""

    model_config = ConfigDict(extra="ignore")


class JobLinks(ApiModel):
    """Where a job's resources live, relative to the API root."""

    self: str
    results: str
    csv: str
    summary: str = ""
    items: str = ""
    close: str = ""


class RejectedFile(ApiModel):
    """A part refused as a non-image; it is a failed item of the job."""

    filename: str
    reason: str


class DuplicateFile(ApiModel):
    """A file not added because the job already has its content."""

    filename: str
    content_hash: str


class ManifestReport(ApiModel):
    """How the job's manifest matched its items."""

    n_rows: int
    n_matched: int
    unmatched: list[str] = []
    errors: list[dict[str, Any]] = []
    n_errors: int = 0


class JobAccepted(ApiModel):
    """Answer to a submission or an addition to an open job."""

    job_id: str
    status: str
    n_items: int
    n_rejected: int = 0
    rejected: list[RejectedFile] = []
    n_duplicates: int = 0
    duplicates: list[DuplicateFile] = []
    n_skipped: int = 0
    skipped: list[str] = []
    manifest: ManifestReport | None = None
    links: JobLinks
    priority: str = "normal"


class JobCounts(ApiModel):
    """How many of a job's items are in each state."""

    total: int
    queued: int
    running: int
    succeeded: int
    failed: int
    cancelled: int

    @property
    def finished(self) -> int:
        """Return how many items will not change any more."""
        return self.succeeded + self.failed + self.cancelled


class JobPublic(ApiModel):
    """A job's status and progress."""

    job_id: str
    status: str
    counts: JobCounts
    created_at: datetime
    closed_at: datetime | None = None
    finished_at: datetime | None = None
    cancelled_at: datetime | None = None
    model: list[str] = []
    manifest: ManifestReport | None = None
    images_expire_at: datetime | None = None
    expires_at: datetime | None = None
    priority: str = "normal"

    @property
    def done(self) -> bool:
        """Return whether the job reached a final status."""
        return self.status in FINAL_STATUSES


class Latency(ApiModel):
    """Milliseconds in the queue, in the model, and from upload to result."""

    inference: float | None = None
    queue: float | None = None
    total: float | None = None
    batch: float | None = None


class ResultItem(ApiModel):
    """One image and, once done, its classification."""

    item_id: str
    filename: str
    status: str
    label: str | None = None
    probability: float | None = None
    scores: dict[str, float] | None = None
    latency_ms: Latency = Latency()
    batch_size: int | None = None
    model_name: str | None = None
    model_version: str | None = None
    model_id: int | None = None
    attempts: int = 0
    error: str | None = None
    true_label: str | None = None
    patient_id: str | None = None
    slide_id: str | None = None
    attributes: dict[str, Any] | None = None
    warnings: list[str] = []  # ways the image is unlike the model's training images


class GroupSummary(ApiModel):
    """One patient (or slide): counts, class probabilities and the call."""

    patient_id: str | None
    patient_spellings: list[str] = []
    slide_id: str | None = None
    status: str = "called"  # called, incomplete (no call) or unassigned (never called)
    coverage: float = 1.0
    n_images: int
    n_classified: int
    n_failed: int
    label_counts: dict[str, int]
    mean_probability: dict[str, float]
    max_probability: dict[str, float]
    positive_tiles: int | None = None
    strong_tiles: int | None = None
    call: str | None = None
    n_flagged: int = 0  # classified images with an input warning


class JobSummary(ApiModel):
    """Per-patient and per-slide summary of a job."""

    job_id: str
    status: str
    final: bool
    classes: list[str]
    rule: dict[str, Any]
    patients: list[GroupSummary]
    slides: list[GroupSummary] = []
    unassigned_files: list[str] = []
    not_images: list[str] = []


class Prediction(ApiModel):
    """Answer of POST /predict when the result came within the timeout."""

    job_id: str
    label: str
    probability: float
    scores: dict[str, float]
    latency_ms: float
    model_name: str
    model_version: str


class PredictionPending(ApiModel):
    """Answer of POST /predict (202) when the timeout passed first: poll the job."""

    job_id: str
    status: str
    detail: str = ""


class JobList(ApiModel):
    """A page of jobs, newest first."""

    jobs: list[JobPublic]
    next_cursor: str | None = None
