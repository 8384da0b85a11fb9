"""Per-patient (and per-slide) summaries of a job, in one bounded pass over its results.

Memory grows with the number of patients and classes, never with the number of images
(file names of unassigned images and non-images are listed up to FILES_LISTED).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.patient_call import CallRule, reaches
from core.patients import is_not_image, normalize_id
from db.models import Item, ItemStatus, Result
from db.slide_tables import Slide

PAGE_ROWS = 1000
#: Spellings of one patient ID kept for display; file names listed per summary.
SPELLINGS_KEPT = 20
FILES_LISTED = 1000


def tile_is_positive(scores: dict[str, Any], positive_class: str | None, threshold: float) -> bool:
    """Return whether a tile counts positive: the one place the summary asks."""
    return reaches(scores, positive_class, threshold)


@dataclass
class GroupStats:
    """Counts and class probabilities of one patient's (or one slide's) images."""

    patient_id: str | None  # normalised (core.patients.normalize_id)
    slide_id: str | None
    n_images: int = 0
    n_classified: int = 0
    n_failed: int = 0
    positive_tiles: int = 0  # at or above the card's threshold
    strong_tiles: int = 0  # at or above the patient rule's tile_threshold
    n_flagged: int = 0  # classified images with an input warning (core.input_checks)
    label_counts: Counter[str] = field(default_factory=Counter)
    score_sums: dict[str, float] = field(default_factory=dict)
    score_max: dict[str, float] = field(default_factory=dict)
    spellings: set[str] = field(default_factory=set)
    model_ids: set[int | None] = field(default_factory=set)

    def add(
        self,
        status: str,
        label: str | None,
        scores: dict[str, Any] | None,
        rule: CallRule,
        slide_call: str | None = None,
    ) -> None:
        """Count one item of the group. A whole slide counts by its own call, not by its mean
        scores: its call already applied the rule to its tiles, so a slide called the positive
        class alone makes its group positive (it counts as `min_tiles` strong tiles)."""
        self.n_images += 1
        self.n_failed += status == ItemStatus.FAILED
        if label is None or scores is None:
            return
        self.n_classified += 1
        self.label_counts[label] += 1
        for name, value in scores.items():
            self.score_sums[name] = self.score_sums.get(name, 0.0) + float(value)
            self.score_max[name] = max(self.score_max.get(name, 0.0), float(value))
        if slide_call is not None:
            called = rule.positive_class is not None and slide_call == rule.positive_class
            self.positive_tiles += called
            self.strong_tiles += rule.min_tiles if called else 0
            return
        self.positive_tiles += tile_is_positive(scores, rule.positive_class, rule.threshold)
        self.strong_tiles += tile_is_positive(scores, rule.positive_class, rule.tile_threshold)

    def note(
        self, raw_id: str | None, model_id: int | None, classified: bool, flagged: bool = False
    ) -> None:
        """Remember a raw spelling of the group's ID, a result's model row and its flags."""
        if raw_id is not None and len(self.spellings) < SPELLINGS_KEPT:
            self.spellings.add(raw_id)
        if classified:
            self.model_ids.add(model_id)
            self.n_flagged += flagged

    def mean(self, name: str) -> float:
        """Return the mean probability of a class over the classified images."""
        return self.score_sums.get(name, 0.0) / self.n_classified if self.n_classified else 0.0


@dataclass
class JobSummaryData:
    """Every patient group, every slide group, the classes seen, and the images no patient has."""

    classes: list[str]
    patients: list[GroupStats]
    slides: list[GroupStats]
    unassigned_files: list[str] = field(default_factory=list)  # up to FILES_LISTED, sorted
    not_images: list[str] = field(default_factory=list)  # up to FILES_LISTED, sorted
    n_not_images: int = 0


def _sort_key(group: GroupStats) -> tuple[bool, str, bool, str]:
    return (
        group.patient_id is None,
        group.patient_id or "",
        group.slide_id is None,
        group.slide_id or "",
    )


@dataclass(frozen=True)
class ModelShare:
    """How many of a job's results one model produced."""

    model_id: int | None  # None for results written before models were recorded
    name: str
    version: str
    results: int


def job_models(job_id: uuid.UUID, *, session: Session) -> list[ModelShare]:
    """Return the models that produced a job's results, oldest model row first."""
    statement = (
        select(Result.model_id, Result.model_name, Result.model_version, func.count())
        .where(Result.job_id == job_id)
        .group_by(Result.model_id, Result.model_name, Result.model_version)
    )
    shares = [ModelShare(*row) for row in session.execute(statement)]
    return sorted(shares, key=lambda share: (share.model_id or 0, share.name, share.version))


def _listed(names: list[str], name: str) -> None:
    if len(names) < FILES_LISTED:
        names.append(name)


def summarize_job(
    job_id: uuid.UUID,
    rules: Mapping[int | None, CallRule],
    default_rule: CallRule,
    *,
    session: Session,
) -> JobSummaryData:
    """Group a job's items by normalised patient ID and by slide and aggregate their results.

    Each result's tile counts as positive by the rule of the model that produced it
    (`rules`, by model row; `default_rule` for any other). Files refused at intake as not
    images belong to no group; images without a patient ID form the unassigned group.
    """
    statement = (
        select(
            Item.filename,
            Item.patient_id,
            Item.slide_id,
            Item.status,
            Item.attempts,
            Item.error,
            Result.label,
            Result.scores,
            Result.model_id,
            Result.warnings,
            Slide.call,
        )
        .outerjoin(Result, Result.item_id == Item.id)
        .outerjoin(Slide, Slide.id == Item.id)
        .where(Item.job_id == job_id)
        .execution_options(yield_per=PAGE_ROWS)
    )
    patients: dict[str | None, GroupStats] = {}
    slides: dict[tuple[str | None, str], GroupStats] = {}
    data = JobSummaryData([], [], [])
    classes: set[str] = set()
    for row in session.execute(statement):
        name, raw_id, slide_id, status, attempts, error, label, scores, model_id, flags, call = row
        if status == ItemStatus.FAILED and attempts == 0 and is_not_image(error):
            data.n_not_images += 1
            _listed(data.not_images, name)
            continue
        rule, key = rules.get(model_id, default_rule), normalize_id(raw_id)
        if key is None:
            _listed(data.unassigned_files, name)
        groups = [patients.setdefault(key, GroupStats(key, None))]
        if slide_id is not None:
            groups.append(slides.setdefault((key, slide_id), GroupStats(key, slide_id)))
        for group in groups:
            group.add(status, label, scores, rule, call)
            group.note(raw_id, model_id, label is not None, bool(flags))
        classes.update(scores or {})
    data.unassigned_files.sort()
    data.not_images.sort()
    data.classes = sorted(classes)
    data.patients = sorted(patients.values(), key=_sort_key)
    data.slides = sorted(slides.values(), key=_sort_key)
    return data
