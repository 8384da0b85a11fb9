"""`inferq evaluate` against the real stack, on generated labelled tiles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from core.model_card import ModelCard
from tests.integration.bulk.conftest import SharedStack


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Forty synthetic tiles of four patients in class sub-folders."""
    from training.synthetic import generate_dataset

    folder = tmp_path_factory.mktemp("labelled")
    generate_dataset(folder, n_tiles=40, seed=5)
    return folder


def card_with_accuracy(model_dir: Path, folder: Path, accuracy: float) -> Path:
    """Write a copy of the served card claiming a test accuracy."""
    card = ModelCard.read(model_dir)
    card.metrics = {"test_accuracy": accuracy, "test_auc": accuracy}
    path = folder / f"card-{accuracy}.json"
    path.write_text(card.model_dump_json())
    return path


def evaluate(stack: SharedStack, data: Path, *extra: str) -> tuple[int, str]:
    arguments = ["evaluate", "--api", stack.url, "--data", str(data)]
    arguments += ["--max-request-bytes", "400000", *extra]  # under the stack's body limit
    outcome = CliRunner().invoke(app, arguments)
    return outcome.exit_code, outcome.output


def test_evaluate_reports_and_gates_on_the_recorded_accuracy(
    shared_stack: SharedStack, labelled: Path, model_dir: Path, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    low = card_with_accuracy(model_dir, tmp_path, 0.0)  # any accuracy is within 0.05 of it
    code, output = evaluate(
        shared_stack, labelled, "--report", str(report), "--model-card", str(low)
    )
    assert code == 0, output
    body = json.loads(report.read_text())
    assert body["n"] == 40 and body["n_classified"] == 40
    for key in [
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "confusion_matrix",
        "latency_ms",
    ]:
        assert key in body
    assert sum(map(sum, body["confusion_matrix"]["matrix"])) == 40
    assert body["per_patient"]["n_patients"] == 2 and len(body["per_patient"]["patients"]) == 2
    assert body["latency_ms"]["total"]["p95"] >= body["latency_ms"]["total"]["p50"] > 0
    assert body["comparison"]["passed"] and body["comparison"]["recorded_accuracy"] == 0.0
    assert "PASS" in output and "accuracy" in output
    assert body["n_patients"] == 2 and body["intervals"]["resamples"] == 1000
    low_bound, high_bound = body["intervals"]["accuracy"]
    assert low_bound <= body["accuracy"] <= high_bound
    readable = report.with_suffix(".md").read_text()
    assert "**PASS**" in readable and "| tile accuracy |" in readable
    high = card_with_accuracy(model_dir, tmp_path, 1.0)  # random weights cannot come close
    code, output = evaluate(shared_stack, labelled, "--model-card", str(high), "--max-drop", "0.05")
    assert code == 1 and "FAIL" in output
    code, output = evaluate(shared_stack, labelled)  # GET /v1/model's card records none
    assert code == 1 and "the model card records no test_accuracy" in output


def test_an_unreadable_card_fails_unless_allowed(
    shared_stack: SharedStack, labelled: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "model.json"
    bad.write_text("{not json")
    code, output = evaluate(shared_stack, labelled, "--model-card", str(bad))
    assert code == 1 and "no model card" in output and "unreadable" in output
    report = tmp_path / "skipped.json"
    code, output = evaluate(
        shared_stack, labelled, "--model-card", str(bad), "--allow-no-card", "--report", str(report)
    )
    assert code == 0, output
    body = json.loads(report.read_text())
    assert body["comparison"]["card_checks_skipped"] and body["comparison"]["passed"]
    assert "checks were skipped (--allow-no-card)" in report.with_suffix(".md").read_text()
