"""A slide's call from its tiles' probabilities, by the per-patient rule (core.patient_call).

A slide is called as a patient is: positive when enough tiles score high or a large
enough share reach the card's threshold, so a small focus of tumour is not averaged away.
The positive tissue area is the positive tiles' area where the slide's pixel size is known.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from core.decision import decide_index
from core.model_card import ModelCard
from core.patient_call import CallRule, call_label


@dataclass
class SlideTiles:
    """A slide's classified tiles, counted as the per-patient call reads a group."""

    probabilities: np.ndarray  # (n_tiles, n_classes)
    class_names: list[str]
    rule: CallRule
    label_counts: Counter[str] = field(default_factory=Counter)
    positive_tiles: int = 0
    strong_tiles: int = 0
    n_images: int = 0  # every tile of a finished slide is classified
    n_classified: int = 0

    def __post_init__(self) -> None:
        self.n_images = self.n_classified = len(self.probabilities)
        names = self.class_names
        positive = names.index(self.rule.positive_class) if self.rule.positive_class else None
        labels = [
            decide_index(list(row), threshold=self.rule.threshold, positive_index=positive)
            for row in self.probabilities.astype(np.float64)
        ]
        self.label_counts = Counter(names[index] for index in labels)
        if positive is not None:
            self.positive_tiles = self.label_counts[names[positive]]
            column = self.probabilities[:, positive]
            self.strong_tiles = int((column >= self.rule.tile_threshold).sum())

    def mean(self, name: str) -> float:
        """Return a class's mean probability over the tiles."""
        if not len(self.probabilities):
            return 0.0
        return float(self.probabilities[:, self.class_names.index(name)].mean())


def card_rule(card: ModelCard) -> CallRule:
    """Return the call rule a model card states."""
    patient = card.patient_rule
    return CallRule(
        threshold=card.threshold,
        positive_class=card.positive_class,
        min_fraction=patient.min_fraction,
        min_tiles=patient.min_tiles,
        tile_threshold=patient.tile_threshold,
        min_coverage=patient.min_coverage,
    )


@dataclass(frozen=True)
class SlideCall:
    """A slide's label, its positive tiles and their area (mm², None without pixel size)."""

    label: str | None
    positive_tiles: int
    positive_area_mm2: float | None
    mean_scores: dict[str, float]


def call_slide(
    probabilities: np.ndarray, card: ModelCard, tile_area_um2: float | None
) -> SlideCall:
    """Return a slide's call from its tiles' probabilities, by the card's rule."""
    tiles = SlideTiles(probabilities, list(card.class_names), card_rule(card))
    label = call_label(tiles, tiles.rule, list(card.class_names))
    area = None if tile_area_um2 is None else tiles.positive_tiles * tile_area_um2 / 1e6
    means = {name: round(tiles.mean(name), 6) for name in card.class_names}
    return SlideCall(label, tiles.positive_tiles, area, means)
