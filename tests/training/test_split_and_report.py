"""The split stage's checks (disjoint patients, the leaky image-level split) and the report."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from core.metrics import confusion_matrix, precision_recall_f1, roc_auc, roc_curve
from training.dataset import Record, Split, check_disjoint, split_by_image, split_by_patient
from training.params import PipelineParams, load_params
from training.report import card_metrics, evaluate_predictions

ROOT = Path(__file__).parents[2]


def _records(layout: list[tuple[str, int]]) -> list[Record]:
    return [
        Record(Path(label) / f"P{index:04d}_{tile}.png", label, f"P{index:04d}")
        for index, (label, tiles) in enumerate(layout)
        for tile in range(tiles)
    ]


layouts = st.lists(
    st.tuples(st.sampled_from(["a", "b"]), st.integers(1, 6)), min_size=1, max_size=30
)
ratios = st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0.05, 1))


@settings(max_examples=100, deadline=None)
@given(layout=layouts, seed=st.integers(0, 2**16), shares=ratios)
def test_patient_split_passes_the_stage_check_for_any_ratios(
    layout: list[tuple[str, int]], seed: int, shares: tuple[float, float, float]
) -> None:
    records = _records(layout)
    split = split_by_patient(records, shares, seed=seed)
    check_disjoint(split)
    assert Counter(r.path for part in split for r in part) == Counter(r.path for r in records)


@settings(max_examples=60, deadline=None)
@given(layout=layouts, seed=st.integers(0, 2**16))
def test_image_split_keeps_every_image_once(layout: list[tuple[str, int]], seed: int) -> None:
    records = _records(layout)
    split = split_by_image(records, seed=seed)
    assert Counter(r.path for part in split for r in part) == Counter(r.path for r in records)
    if len(records) >= 3:
        assert all(split)


def test_check_catches_a_patient_in_two_splits() -> None:
    records = _records([("a", 4), ("b", 4)])
    with pytest.raises(ValueError, match="1 patients in more than one split"):
        check_disjoint(Split(records[:2], [], records[2:]))
    assert split_by_image(records * 10, seed=0) != split_by_patient(records * 10, seed=0)


def test_roc_curve_integrates_to_the_rank_auc() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    scores = np.round(labels * 0.3 + rng.random(200), 1)  # many ties
    fpr, tpr = roc_curve(labels, scores)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert math.isclose(float(np.trapezoid(tpr, fpr)), roc_auc(labels, scores))


def test_report_scores_the_positive_class_and_patients() -> None:
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.1, 0.9]])
    labels = np.array([0, 0, 1, 1, 1])
    patients = np.array(["A", "A", "B", "B", "C"])
    report = evaluate_predictions(
        probabilities, labels, patients, ["benign", "malignant"], positive_class="malignant"
    )
    counts = confusion_matrix(labels, np.array([0, 1, 0, 1, 1]), 2)
    assert report["confusion_matrix"]["true_malignant"] == {
        "predicted_benign": 1,
        "predicted_malignant": 2,
    }
    assert report["precision"] == precision_recall_f1(counts, 1)["precision"] == 2 / 3
    assert report["recall"] == 2 / 3
    assert report["accuracy"] == 3 / 5
    assert report["mean_patient_accuracy"] == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    intervals = report["intervals_95"]
    assert set(intervals) == {"accuracy", "roc_auc", "patient_accuracy"}
    low, high = intervals["accuracy"]
    assert low <= 3 / 5 <= high and low < high  # three patients resampled: a wide interval
    flat = card_metrics({"test": report, "image_level_split": {"enabled": True}})
    assert flat["test_auc"] == report["roc_auc"]
    assert "image_level_enabled" not in flat


def test_params_file_is_valid_and_matches_the_defaults() -> None:
    params = load_params(ROOT / "params.yaml")
    assert params == PipelineParams()
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        module = stage["cmd"].split()[-1]
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), name
    assert "models/default" in stages["export"]["outs"]
