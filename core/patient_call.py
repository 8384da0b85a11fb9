"""The per-patient call: a sensitive rule for the positive class, and no call without coverage.

Missing a malignant patient costs more than a second look at a benign one, so a few
high-confidence tiles are enough (a small focus of tumour covers few tiles of a slide),
and so is a small share of tiles at the card's threshold. A patient whose images were
mostly not classified (failed or still pending) gets no call at all: `incomplete`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from core.decision import label_scores
from core.model_card import PatientRule

DEFAULT_PATIENT_RULE = PatientRule()


class CallStatus(StrEnum):
    """What a patient's call is worth."""

    CALLED = "called"  # enough images classified: the call stands
    INCOMPLETE = "incomplete"  # too many failed or pending images: no call
    UNASSIGNED = "unassigned"  # images without a patient ID: listed, never called


@dataclass(frozen=True)
class CallRule:
    """A tile's positive threshold and class (from its model's card) and the patient rule."""

    threshold: float = 0.5
    positive_class: str | None = None
    min_fraction: float = DEFAULT_PATIENT_RULE.min_fraction
    min_tiles: int = DEFAULT_PATIENT_RULE.min_tiles
    tile_threshold: float = DEFAULT_PATIENT_RULE.tile_threshold
    min_coverage: float = DEFAULT_PATIENT_RULE.min_coverage


class TileCounts(Protocol):
    """What the call reads of a group's tiles."""

    n_images: int
    n_classified: int
    positive_tiles: int
    strong_tiles: int
    label_counts: Counter[str]

    def mean(self, name: str) -> float:
        """Return the mean probability of a class over the classified images."""


def reaches(scores: dict[str, Any], positive_class: str | None, threshold: float) -> bool:
    """Return whether the decision rule labels a tile positive at this threshold."""
    if positive_class is None:
        return False
    return (
        label_scores(scores, threshold=threshold, positive_class=positive_class) == positive_class
    )


def coverage(group: TileCounts) -> float:
    """Return the share of a group's submitted images that were classified."""
    return group.n_classified / group.n_images if group.n_images else 0.0


def is_positive(group: TileCounts, rule: CallRule) -> bool:
    """Return whether enough strong tiles, or a large enough share of positive tiles, exist."""
    needed = max(1, math.ceil(rule.min_fraction * group.n_classified - 1e-9))
    return group.strong_tiles >= rule.min_tiles or group.positive_tiles >= needed


def call_label(group: TileCounts, rule: CallRule, classes: list[str]) -> str | None:
    """Return the label a group's tiles support (see the module docstring for why).

    With a positive class: that class when `is_positive`, else the most frequent other
    label. Without one: the most frequent label. Ties go to the higher mean probability.
    """
    if group.n_classified == 0:
        return None
    candidates = classes
    if rule.positive_class is not None:
        if is_positive(group, rule):
            return rule.positive_class
        candidates = [name for name in classes if name != rule.positive_class] or classes
    return min(candidates, key=lambda name: (-group.label_counts[name], -group.mean(name), name))


def call_patient(
    group: TileCounts, rule: CallRule, classes: list[str], *, assigned: bool = True
) -> tuple[CallStatus, str | None]:
    """Return a group's status and call: none when unassigned or below the coverage floor."""
    if not assigned:
        return CallStatus.UNASSIGNED, None
    if group.n_classified == 0 or coverage(group) < rule.min_coverage - 1e-9:
        return CallStatus.INCOMPLETE, None
    return CallStatus.CALLED, call_label(group, rule, classes)
