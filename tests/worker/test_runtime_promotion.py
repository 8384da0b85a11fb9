"""Promotion and rollback across runtimes: the alias moves between a Keras-only version and
one with int8 TFLite, and the worker serves each in the runtime its files allow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import get_settings
from training.registry import promote, rollback
from training.tracking import client_for, register_model_dir
from worker.model_holder import load_model
from worker.serving import model_row


@pytest.fixture
def registry(
    tmp_path: Path, model_dir: Path, quantized_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Register the Keras-only model (1) and the quantised one (2) in a fresh store."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = client_for(uri)
    experiment = client.create_experiment("inferq", artifact_location=str(tmp_path / "artifacts"))
    for directory in (model_dir, quantized_model_dir):
        run = client.create_run(experiment)
        register_model_dir(
            client, run.info.run_id, directory, name="inferq-test", alias="champion", tags={}
        )
    monkeypatch.setenv("INFERQ_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("INFERQ_MLFLOW_TRACKING_URI", uri)
    get_settings.cache_clear()
    yield uri
    get_settings.cache_clear()


def served_as(uri: str) -> tuple[str, str, str | None]:
    """Return the runtime, precision and registry version the champion is served with."""
    loaded = load_model(uri, max_batch_size=4)
    row = model_row(loaded)
    assert (row["runtime"], row["precision"]) == (loaded.runtime, loaded.precision)
    return loaded.runtime, loaded.precision, loaded.source.registered_version


def test_alias_moves_between_runtimes_and_back(registry: str) -> None:
    champion = "models:/inferq-test@champion"
    assert served_as(champion) == ("litert", "int8", "2")
    moved = rollback(registry, "inferq-test")
    assert (moved.previous, moved.version) == ("2", "1")
    assert served_as(champion) == ("tensorflow", "fp32", "1")
    promote(registry, "inferq-test", "2")
    assert served_as(champion) == ("litert", "int8", "2")


def test_runtime_and_precision_make_distinct_served_models(quantized_model_dir: Path) -> None:
    rows = [
        model_row(load_model(str(quantized_model_dir), max_batch_size=2, precision=precision))
        for precision in ("fp32", "int8")
    ]
    assert rows[0]["fingerprint"] != rows[1]["fingerprint"]
    assert [(row["runtime"], row["precision"]) for row in rows] == [
        ("litert", "fp32"),
        ("litert", "int8"),
    ]
