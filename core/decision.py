"""The decision rule: how a model's class scores become the label a result carries.

One rule, read from the model card (`threshold`, `positive_class`), used by the worker to
label, by training and `inferq evaluate` to score, and by the summary to count positive
tiles:

- With a positive class, a tile is labelled positive exactly when its score on that class
  is at least the threshold; otherwise it takes the highest-scoring other class. This
  holds for any number of classes: in a multi-class model a positive score below the
  threshold never labels a tile positive, even when it is the highest score, and one at
  or above it always does, even when another class scores higher (possible only with a
  threshold under 0.5). The threshold is the operating point of the class that matters
  (the one a missed tile costs most); the other classes compete by score alone.
- Without a positive class: the highest score (ties go to the class listed first).

A result's `probability` is the score of the label it carries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.model_card import ModelCard

if TYPE_CHECKING:  # numpy loads with the first batch of rows, not with the rule (gateway start)
    import numpy as np


def decide_index(scores: Sequence[float], *, threshold: float, positive_index: int | None) -> int:
    """Return the index of the class one row of scores is labelled with."""
    if positive_index is None:
        return max(range(len(scores)), key=scores.__getitem__)
    if scores[positive_index] >= threshold:
        return positive_index
    others = [index for index in range(len(scores)) if index != positive_index]
    if not others:
        raise ValueError("a rule with a positive class needs at least one other class")
    return max(others, key=scores.__getitem__)


@dataclass(frozen=True)
class DecisionRule:
    """The card's rule for one model: its classes, threshold and positive class."""

    class_names: tuple[str, ...]
    threshold: float = 0.5
    positive_class: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold {self.threshold} is not between 0 and 1")
        if self.positive_class is not None and self.positive_class not in self.class_names:
            raise ValueError(f"{self.positive_class!r} is not one of {list(self.class_names)}")

    @classmethod
    def from_card(cls, card: ModelCard) -> DecisionRule:
        """Return the rule a model card states."""
        return cls(tuple(card.class_names), card.threshold, card.positive_class)

    @property
    def positive_index(self) -> int | None:
        """Return the positive class's column, or None without one."""
        if self.positive_class is None:
            return None
        return self.class_names.index(self.positive_class)

    def index(self, scores: Sequence[float]) -> int:
        """Return the class index of one row of scores, in class_names order."""
        return decide_index(scores, threshold=self.threshold, positive_index=self.positive_index)

    def indices(self, probabilities: np.ndarray) -> np.ndarray:
        """Return the class index of every row of an (n, classes) score array."""
        import numpy as np

        rows = np.asarray(probabilities, dtype=np.float64).tolist()
        return np.fromiter((self.index(row) for row in rows), dtype=np.int64, count=len(rows))

    def label(self, scores: Mapping[str, float]) -> str:
        """Return the label of a result's scores by class name (a missing class scores 0)."""
        row = [float(scores.get(name, 0.0)) for name in self.class_names]
        return self.class_names[self.index(row)]


def label_scores(
    scores: Mapping[str, float], *, threshold: float, positive_class: str | None
) -> str:
    """Return the label of scores by class name under a threshold and positive class.

    The classes are the scores' own; a positive class that is not among them is never the
    label (the rule falls back to the highest score).
    """
    names = tuple(scores)
    positive = positive_class if positive_class in scores else None
    return DecisionRule(names, threshold, positive).label(scores)
