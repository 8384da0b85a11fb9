"""The shared metrics (core.metrics) against brute-force definitions and small examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import metrics
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


def _two_class_patients(n_patients: int, seed: int = 1) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    ids = np.repeat([f"P{i:02d}" for i in range(n_patients)], 10)
    labels = np.repeat(np.arange(n_patients) % 2, 10)
    scores = np.clip(labels * 0.4 + rng.uniform(0.0, 0.6, len(labels)), 0.0, 1.0)
    return ids, labels, scores, (scores >= 0.5).astype(np.int64)


def test_bootstrap_intervals_cover_the_point_figures_and_are_reproducible() -> None:
    ids, labels, scores, predicted = _two_class_patients(20)
    calls = metrics.majority_calls(ids, labels, predicted) | {"P00": False, "P03": False}
    arguments = (ids, labels == predicted, labels == 1, scores, calls)
    first = metrics.bootstrap_intervals(*arguments)
    assert first == metrics.bootstrap_intervals(*arguments)  # fixed seed
    point = {
        "accuracy": metrics.accuracy(labels, predicted),
        "roc_auc": metrics.roc_auc(labels == 1, scores),
        "patient_accuracy": float(np.mean(list(calls.values()))),
    }
    for name, value in point.items():
        interval = first[name]
        assert interval is not None
        assert interval[0] <= value <= interval[1], name
        assert interval[0] < interval[1], name


def test_bootstrap_intervals_narrow_with_more_patients() -> None:
    widths = []
    for n_patients in (10, 80):
        ids, labels, _scores, predicted = _two_class_patients(n_patients)
        calls = metrics.majority_calls(ids, labels, predicted)
        interval = metrics.bootstrap_intervals(ids, labels == predicted, None, None, calls)
        assert interval["roc_auc"] is None  # no scores: no AUC interval
        low, high = interval["accuracy"] or (0.0, 0.0)
        widths.append(high - low)
    assert widths[1] < widths[0] / 1.5


def test_bootstrap_counts_a_patient_without_tiles_by_its_call() -> None:
    interval = metrics.bootstrap_intervals(
        np.array([], dtype=str), np.array([], dtype=bool), None, None, {"A": False, "B": False}
    )
    assert interval["patient_accuracy"] == (0.0, 0.0)
    assert interval["accuracy"] is None


def test_accuracy_gap_interval_excludes_zero_only_for_a_real_gap() -> None:
    ids, labels, _scores, predicted = _two_class_patients(40)
    right = labels == predicted
    worse = right & (np.arange(len(right)) % 3 != 0)  # a third of the tiles turned wrong
    gap, interval = metrics.bootstrap_accuracy_gap((ids, right), (ids, worse))
    assert gap == pytest.approx(float(np.mean(right) - np.mean(worse)))
    assert interval is not None and 0 < interval[0] <= gap <= interval[1]
    _, same = metrics.bootstrap_accuracy_gap((ids, right), (ids, right))
    assert same is not None and same[0] < 0 < same[1]
