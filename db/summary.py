"""Per-patient (and per-slide) summaries of a job, in one bounded pass over its results.

Memory grows with the number of patients and classes, never with the number of images.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.decision import label_scores
from db.models import Item, ItemStatus, Result

PAGE_ROWS = 1000


@dataclass(frozen=True)
class CallRule:
    """How a patient's tiles become one call (see `call_group`)."""

    threshold: float = 0.5
    positive_class: str | None = None
    min_fraction: float = 0.1


@dataclass
class GroupStats:
    """Counts and class probabilities of one patient's (or one slide's) images."""

    patient_id: str | None
    slide_id: str | None
    n_images: int = 0
    n_classified: int = 0
    n_failed: int = 0
    positive_tiles: int = 0
    label_counts: Counter[str] = field(default_factory=Counter)
    score_sums: dict[str, float] = field(default_factory=dict)
    score_max: dict[str, float] = field(default_factory=dict)

    def add(
        self, status: str, label: str | None, scores: dict[str, Any] | None, rule: CallRule
    ) -> None:
        """Count one item of the group."""
        self.n_images += 1
        self.n_failed += status == ItemStatus.FAILED
        if label is None or scores is None:
            return
        self.n_classified += 1
        self.label_counts[label] += 1
        for name, value in scores.items():
            self.score_sums[name] = self.score_sums.get(name, 0.0) + float(value)
            self.score_max[name] = max(self.score_max.get(name, 0.0), float(value))
        if rule.positive_class is not None:
            label = label_scores(
                scores, threshold=rule.threshold, positive_class=rule.positive_class
            )
            self.positive_tiles += label == rule.positive_class

    def mean(self, name: str) -> float:
        """Return the mean probability of a class over the classified images."""
        return self.score_sums.get(name, 0.0) / self.n_classified if self.n_classified else 0.0


@dataclass(frozen=True)
class JobSummaryData:
    """Every patient group, every slide group and the classes seen."""

    classes: list[str]
    patients: list[GroupStats]
    slides: list[GroupStats]


def call_group(group: GroupStats, rule: CallRule, classes: list[str]) -> str | None:
    """Return a group's call: the positive class when enough tiles reach the threshold.

    With a positive class: positive when at least `min_fraction` of the classified tiles
    (and at least one) score >= `threshold` on it; otherwise the most frequent other label.
    Without one: the most frequent label. Ties go to the higher mean probability.
    """
    if group.n_classified == 0:
        return None
    candidates = classes
    if rule.positive_class is not None:
        needed = max(1, math.ceil(rule.min_fraction * group.n_classified - 1e-9))
        if group.positive_tiles >= needed:
            return rule.positive_class
        candidates = [name for name in classes if name != rule.positive_class] or classes
    return min(candidates, key=lambda name: (-group.label_counts[name], -group.mean(name), name))


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


def summarize_job(
    job_id: uuid.UUID,
    rules: Mapping[int | None, CallRule],
    default_rule: CallRule,
    *,
    session: Session,
) -> JobSummaryData:
    """Group a job's items by patient and by slide and aggregate their results.

    Each result's tile counts as positive by the rule of the model that produced it
    (`rules`, by model row; `default_rule` for any other).
    """
    statement = (
        select(
            Item.patient_id,
            Item.slide_id,
            Item.status,
            Result.label,
            Result.scores,
            Result.model_id,
        )
        .outerjoin(Result, Result.item_id == Item.id)
        .where(Item.job_id == job_id)
        .execution_options(yield_per=PAGE_ROWS)
    )
    patients: dict[str | None, GroupStats] = {}
    slides: dict[tuple[str | None, str], GroupStats] = {}
    classes: set[str] = set()
    for patient_id, slide_id, status, label, scores, model_id in session.execute(statement):
        rule = rules.get(model_id, default_rule)
        patient = patients.setdefault(patient_id, GroupStats(patient_id, None))
        patient.add(status, label, scores, rule)
        if slide_id is not None:
            slide = slides.setdefault((patient_id, slide_id), GroupStats(patient_id, slide_id))
            slide.add(status, label, scores, rule)
        classes.update(scores or {})
    return JobSummaryData(
        sorted(classes),
        sorted(patients.values(), key=_sort_key),
        sorted(slides.values(), key=_sort_key),
    )
