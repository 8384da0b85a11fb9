"""Numpy ROC AUC and accuracy against brute-force definitions."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from training.metrics import classification_metrics, roc_auc


def _pairwise_auc(labels: list[int], scores: list[float]) -> float:
    positives = [s for s, y in zip(scores, labels, strict=True) if y]
    negatives = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


@given(
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 5)), min_size=2, max_size=60).filter(
        lambda pairs: len({y for y, _ in pairs}) == 2
    )
)
def test_rank_auc_matches_pairwise_counting_with_ties(pairs: list[tuple[int, int]]) -> None:
    labels = [y for y, _ in pairs]
    scores = [float(s) for _, s in pairs]
    assert math.isclose(roc_auc(np.array(labels), np.array(scores)), _pairwise_auc(labels, scores))


def test_auc_edge_cases() -> None:
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert roc_auc(np.array([1, 1, 0, 0]), np.array([0.1, 0.2, 0.8, 0.9])) == 0.0
    assert roc_auc(np.array([0, 1, 0, 1]), np.zeros(4)) == 0.5
    assert math.isnan(roc_auc(np.array([1, 1]), np.array([0.3, 0.4])))


def test_accuracy_uses_the_threshold_on_the_positive_class() -> None:
    probabilities = np.array([[0.6, 0.4], [0.3, 0.7], [0.45, 0.55]])
    labels = np.array([0, 1, 0])
    default = classification_metrics(probabilities, labels, positive_index=1)
    strict = classification_metrics(probabilities, labels, threshold=0.6, positive_index=1)
    assert math.isclose(default["accuracy"], 2 / 3)
    assert strict["accuracy"] == 1.0
    assert default["auc"] == 1.0


def test_multiclass_auc_is_the_one_vs_rest_mean() -> None:
    probabilities = np.eye(3)[[0, 1, 2, 0]] * 0.8 + 0.2 / 3
    metrics = classification_metrics(probabilities, np.array([0, 1, 2, 0]))
    assert metrics == {"accuracy": 1.0, "auc": 1.0}
