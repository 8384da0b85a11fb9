"""Evaluation without a server: labelled folders, metrics, and the report of API answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.model_card import ModelCard, Preprocessing
from evaluation.dataset import load_samples, patient_id_from_name, samples_manifest
from evaluation.markdown import render_markdown
from evaluation.report import Answer, off_rule, tile_metrics
from evaluation.run import GateOptions, build_report, percentiles


def card(accuracy: float | None, threshold: float = 0.5) -> ModelCard:
    return ModelCard(
        threshold=threshold,
        name="m",
        version="1",
        class_names=["benign", "malignant"],
        input_size=(96, 96),
        preprocessing=Preprocessing(input_size=(96, 96)),
        positive_class="malignant",
        metrics={} if accuracy is None else {"test_accuracy": accuracy, "test_auc": 0.95},
    )


def answer(name: str, label: str, malignant: float) -> Answer:
    return Answer(
        filename=name,
        status="succeeded",
        label=label,
        scores={"benign": 1 - malignant, "malignant": malignant},
    )


def test_tiles_are_scored_by_the_labels_the_api_returned() -> None:
    truth = ["benign", "benign", "malignant", "malignant", "malignant"]
    items = [
        answer("a", "benign", 0.1),
        answer("b", "malignant", 0.9),
        answer("c", "malignant", 0.85),
        answer("d", "malignant", 0.8),
        answer("e", "benign", 0.4),
    ]
    tiles = tile_metrics(truth, items, ["benign", "malignant"], card(0.9, threshold=0.8))
    assert tiles.confusion_matrix["matrix"] == [[1, 1], [1, 2]]
    assert (tiles.precision, tiles.recall) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert tiles.f1 == pytest.approx(2 / 3)
    assert tiles.roc_auc == pytest.approx(3 / 6)  # each malignant tile beats one of two
    # An answer naming a class the card does not have is wrong, not dropped.
    items[0] = answer("a", "tumour", 0.1)
    assert tile_metrics(truth, items, ["benign", "malignant"], None).accuracy == pytest.approx(
        2 / 5
    )
    assert percentiles([1.0, 2.0, 3.0, 4.0])["p50"] in {2.0, 3.0}
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None}


def test_labels_off_the_cards_rule_are_found() -> None:
    items = [
        answer("a", "benign", 0.79),
        answer("b", "malignant", 0.79),
        answer("c", "malignant", 0.8),
    ]
    assert off_rule(items, card(0.9, threshold=0.8)) == ["b"]
    assert off_rule(items, card(0.9, threshold=0.5)) == ["a"]
    assert off_rule(items, None) == []


def test_labelled_folders_and_manifests(tmp_path: Path) -> None:
    for name in ["benign/P1_0001.png", "malignant/P2_0001.png", "malignant/.x.png", ".git/a.png"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"png")
    samples = load_samples(tmp_path)
    assert [(s.name, s.label, s.patient_id) for s in samples] == [
        ("benign/P1_0001.png", "benign", "P1"),
        ("malignant/P2_0001.png", "malignant", "P2"),
    ]
    assert samples_manifest(samples).splitlines()[1] == b"benign/P1_0001.png,benign,P1"
    (tmp_path / "manifest.csv").write_text("filename,label\nbenign/P1_0001.png,malignant\n")
    assert [s.label for s in load_samples(tmp_path)] == ["malignant"]
    (tmp_path / "manifest.csv").write_text("filename,label\nmissing.png,benign\n")
    with pytest.raises(ValueError, match="missing"):
        load_samples(tmp_path)
    assert (
        patient_id_from_name("dir/P0007_0012.png") == "P0007"
        and patient_id_from_name("x.png") == "x"
    )


def test_report_from_api_answers(tmp_path: Path) -> None:
    for name in ["benign/P1_0.png", "benign/P1_1.png", "malignant/P2_0.png", "malignant/P2_1.png"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"png")
    samples = load_samples(tmp_path)
    malignant = {"benign/P1_0.png": 0.2, "benign/P1_1.png": 0.7, "malignant/P2_0.png": 0.9}
    items = [
        {
            "filename": name,
            "status": "succeeded",
            "label": "malignant" if p >= 0.5 else "benign",
            "scores": {"benign": 1 - p, "malignant": p},
            "model_name": "m",
            "model_version": "1",
            "latency_ms": {"total": 10.0 + p, "queue": 1.0, "inference": 2.0},
        }
        for name, p in malignant.items()
    ]
    items.append({"filename": "malignant/P2_1.png", "status": "failed", "error": "corrupt"})
    patients = [
        {"patient_id": "P1", "n_images": 2, "call": "malignant"},
        {"patient_id": "P2", "n_images": 2, "call": "malignant"},
    ]
    report = build_report(
        samples,
        items,
        patients,
        job_id="j",
        wall_seconds=2.0,
        card=card(0.9),
        options=GateOptions(tolerance=0.05),
        api_url="http://api",
    )
    assert (report.n, report.n_classified, report.n_failed) == (4, 3, 1)
    assert report.accuracy == pytest.approx(2 / 3)
    assert report.confusion_matrix == {
        "labels": ["benign", "malignant"],
        "matrix": [[1, 1], [0, 1]],
    }
    assert (report.precision, report.recall) == (pytest.approx(0.5), pytest.approx(1.0))
    assert report.roc_auc == pytest.approx(1.0)
    assert report.per_patient.accuracy == pytest.approx(0.5)
    assert report.n_patients == 2 and report.intervals.resamples == 1000
    assert report.intervals.patient_accuracy == (0.0, 1.0)  # 2 patients: one right, one wrong
    low, high = report.intervals.accuracy or (1.0, 0.0)
    assert low <= 2 / 3 <= high
    readable = render_markdown(report)
    assert readable.startswith("# Evaluation of job j\n\n**FAIL**: 1 images not classified")
    assert f"| tile accuracy | 0.667 [{low:.3f}, {high:.3f}] | 0.900 |" in readable
    assert "- patients: 2; tolerance: 0.05" in readable
    assert report.latency_ms["total"]["p50"] is not None
    assert not report.comparison.passed
    assert report.comparison.failures == [
        "1 images not classified, e.g. malignant/P2_1.png",
        "accuracy 0.667 vs 0.900 recorded at training: a drop of 0.233, more than the 0.05 allowed",
    ]
