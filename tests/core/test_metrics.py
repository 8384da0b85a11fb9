"""The shared metrics (core.metrics) against brute-force definitions and small examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.decision import DecisionRule
from core.metrics import (
    accuracy,
    class_auc,
    confusion_matrix,
    patient_accuracy,
    precision_recall_f1,
    roc_auc,
    score_tiles,
)


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
    names = ("benign", "malignant")
    default = DecisionRule(names, 0.5, "malignant").indices(probabilities)
    strict = DecisionRule(names, 0.6, "malignant").indices(probabilities)
    assert math.isclose(accuracy(labels, default), 2 / 3)
    assert accuracy(labels, strict) == 1.0
    assert score_tiles(probabilities, labels, default, 1).roc_auc == 1.0


def test_multiclass_auc_is_the_one_vs_rest_mean() -> None:
    probabilities = np.eye(3)[[0, 1, 2, 0]] * 0.8 + 0.2 / 3
    labels = np.array([0, 1, 2, 0])
    assert class_auc(probabilities, labels, None) == 1.0
    probabilities[0] = [0.05, 0.9, 0.05]  # class 1 now ranks a class-0 image first
    assert class_auc(probabilities, labels, 1) == pytest.approx(2 / 3)
    assert class_auc(probabilities, labels, None) == pytest.approx((0.5 + 2 / 3 + 1.0) / 3)


def test_precision_recall_f1_of_the_positive_class_and_the_macro_average() -> None:
    counts = confusion_matrix(np.array([0, 0, 1, 1, 1]), np.array([0, 1, 1, 1, 0]), 2)
    assert counts.tolist() == [[1, 1], [1, 2]]
    positive = precision_recall_f1(counts, 1)
    assert positive == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3})
    macro = precision_recall_f1(counts, None)
    assert macro["precision"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert macro["recall"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert precision_recall_f1(np.zeros((2, 2)), 1) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_predictions_outside_the_classes_are_wrong_and_left_out_of_the_matrix() -> None:
    labels, predicted = np.array([0, 1, 1]), np.array([0, -2, 1])
    assert confusion_matrix(labels, predicted, 2).tolist() == [[1, 0], [0, 1]]
    assert accuracy(labels, predicted) == pytest.approx(2 / 3)
    assert math.isnan(accuracy(np.array([]), np.array([])))


def test_patients_are_called_by_majority() -> None:
    patients = np.array(["A", "A", "A", "B", "B"])
    by_patient, per_patient = patient_accuracy(
        patients, np.array([1, 1, 1, 0, 0]), np.array([1, 1, 0, 1, 1])
    )
    assert by_patient == 0.5
    assert per_patient == {"A": pytest.approx(2 / 3), "B": 0.0}
