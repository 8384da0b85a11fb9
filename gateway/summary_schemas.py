"""The per-patient summary's wire schema: groups, calls, the rule and the models used."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from core.job_status import JobStatus
from core.patient_call import CallStatus


class SummaryRule(BaseModel):
    """The rule that turned each patient's tiles into one call, and when it makes none."""

    threshold: float = Field(description="Score on positive_class at which a tile is positive.")
    positive_class: str | None = Field(description="The class the call looks for, if any.")
    min_tiles: int = Field(
        description="Positive when at least this many tiles score >= tile_threshold..."
    )
    tile_threshold: float = Field(description="The high score min_tiles counts.")
    min_fraction: float = Field(
        description="...or when at least this share of classified tiles (and one) is positive."
    )
    min_coverage: float = Field(
        description="A patient with fewer classified/submitted images is incomplete: no call."
    )
    description: str


class GroupSummary(BaseModel):
    """One patient (or one slide of a patient): counts, class probabilities and the call."""

    patient_id: str | None = Field(
        description="Normalised: trimmed, case-folded, Unicode NFC; null for the unassigned "
        "group of images without a patient ID."
    )
    patient_spellings: list[str] = Field(
        description="The patient IDs as the manifest spelt them (up to 20), sorted."
    )
    slide_id: str | None
    status: CallStatus = Field(
        description="called: the call stands; incomplete: coverage below min_coverage, no "
        "call; unassigned: images without a patient ID, listed but never called."
    )
    coverage: float = Field(description="Classified images / submitted images (0 to 1).")
    n_images: int
    n_classified: int
    n_failed: int
    n_pending: int = Field(
        description="Images not classified or failed: queued, running, cancelled."
    )
    label_counts: dict[str, int]
    mean_probability: dict[str, float]
    max_probability: dict[str, float]
    positive_tiles: int | None = Field(description="Tiles at or above the card's threshold.")
    strong_tiles: int | None = Field(description="Tiles at or above tile_threshold.")
    call: str | None = Field(
        description="The call; null unless status is called (and before any result)."
    )
    model_ids: list[int | None] = Field(
        description="The model rows (see `models`) whose results this call counts."
    )
    n_flagged: int = Field(
        0,
        description="Classified images with an input warning (unlike the training images: "
        "see each result's `warnings`); their scores, and a call resting on them, deserve "
        "a second look.",
    )


class ModelUsed(BaseModel):
    """A model that produced some of a job's results, and the rule its card sets."""

    model_id: int | None = Field(description="Null for results recorded before models were.")
    name: str
    version: str
    registered_version: str | None
    results: int
    threshold: float = Field(description="Its tiles count positive at this score.")
    positive_class: str | None
    tile_threshold: float = Field(description="Its tiles count towards min_tiles at this score.")


class JobSummary(BaseModel):
    """Per-patient and per-slide summary of a job's results."""

    job_id: uuid.UUID
    status: JobStatus
    final: bool = Field(description="False while images are still open or pending.")
    classes: list[str]
    rule: SummaryRule
    models: list[ModelUsed] = Field(
        description="The models that produced the job's results; more than one after a switch."
    )
    patients: list[GroupSummary]
    slides: list[GroupSummary]
    unassigned_files: list[str] = Field(
        description="Images without a patient ID (up to 1000, sorted); never called."
    )
    n_not_images: int = Field(description="Files refused at upload as not images.")
    not_images: list[str] = Field(
        description="Those files (up to 1000, sorted): they never form a patient."
    )
