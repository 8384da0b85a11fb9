"""INFERQ_MODEL_URI as `models:/<name>@<alias>`: resolved from a local MLflow registry."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from core.model_card import CARD_FILE, KERAS_FILE, ModelCard
from training.tracking import client_for, register_model_dir
from worker.model_holder import load_model
from worker.model_source import resolve_model


@pytest.fixture
def registry(tmp_path: Path, model_dir: Path) -> str:
    """Register the served test model as inferq-test@champion in a fresh SQLite store."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = client_for(uri)
    experiment = client.create_experiment("inferq", artifact_location=str(tmp_path / "artifacts"))
    run = client.create_run(experiment)
    register_model_dir(
        client, run.info.run_id, model_dir, name="inferq-test", alias="champion", tags={}
    )
    return uri


def test_champion_alias_resolves_to_a_cached_copy(
    registry: str, model_dir: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    source = resolve_model("models:/inferq-test@champion", tracking_uri=registry, cache_dir=cache)
    local = source.directory
    assert local == cache / "inferq-test" / "1"
    assert (source.registered_name, source.registered_version) == ("inferq-test", "1")
    assert source.run_id and source.follows_alias
    for name in (KERAS_FILE, CARD_FILE):
        assert (local / name).read_bytes() == (model_dir / name).read_bytes()
    shutil.rmtree(tmp_path / "artifacts")  # a cached version needs no artefact store
    again = resolve_model("models:/inferq-test/1", tracking_uri=registry, cache_dir=cache)
    assert again.directory == local and not again.follows_alias


def test_worker_serves_the_registered_model(
    registry: str, model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFERQ_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("INFERQ_MLFLOW_TRACKING_URI", registry)
    from core.settings import get_settings

    get_settings.cache_clear()
    try:
        loaded = load_model("models:/inferq-test@champion", max_batch_size=4)
    finally:
        get_settings.cache_clear()
    assert loaded.card == ModelCard.read(model_dir)
    assert (tmp_path / "data" / "models" / "inferq-test" / "1" / KERAS_FILE).exists()
    scores, _ = loaded.predict(np.zeros((2, *loaded.card.input_size, 3), dtype=np.uint8))
    assert scores.shape == (2, len(loaded.card.class_names))


def test_unknown_alias_and_bad_uris_fail_clearly(registry: str, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="alias"):
        resolve_model("models:/inferq-test@nope", tracking_uri=registry, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="unsupported model URI"):
        resolve_model("models:/inferq-test", tracking_uri=registry, cache_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="no model at"):
        resolve_model(str(tmp_path / "missing"))
