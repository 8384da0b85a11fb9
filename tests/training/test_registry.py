"""Promote and roll back over the MLflow alias, on a local SQLite registry (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.model_card import KERAS_FILE, ModelCard, validate_card
from training.registry import RegistryError, list_versions, promote, register_directory, rollback
from training.tracking import client_for, log_metrics, register_model_dir


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One registry for the module (creating one takes seconds); tests use their own names."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client_for(uri).create_experiment("inferq", artifact_location=str(root / "artifacts"))
    return uri


def model_dir(root: Path, name: str, version: str) -> tuple[Path, ModelCard]:
    """Write a model directory (a stand-in model file: the registry never opens it)."""
    directory = root / f"{name}-{version}"
    directory.mkdir()
    (directory / KERAS_FILE).write_bytes(b"model " + version.encode())
    card = validate_card(
        {
            "name": name,
            "version": version,
            "class_names": ["a", "b", "c"],
            "input_size": [32, 32],
            "preprocessing": {"input_size": [32, 32]},
            "data_hash": f"{version:0>64}",
        }
    )
    card.write(directory)
    return directory, card


def register(store: str, root: Path, name: str, versions: list[str], alias: str) -> None:
    for version in versions:
        directory, card = model_dir(root, name, version)
        register_directory(store, directory, card, alias)


def test_promote_and_rollback_walk_back_through_the_history(store: str, tmp_path: Path) -> None:
    register(store, tmp_path, "walk", ["v1", "v2", "v3"], alias="candidate")
    for version in ("1", "2", "3"):
        promote(store, "walk", version)
    moves = [rollback(store, "walk") for _ in range(2)]
    assert [(move.previous, move.version) for move in moves] == [("3", "2"), ("2", "1")]
    with pytest.raises(RegistryError, match="walk@champion has no earlier version"):
        rollback(store, "walk")
    again = promote(store, "walk", "3")
    assert (again.previous, again.version) == ("1", "3")
    assert rollback(store, "walk").version == "1"


def test_a_registration_under_the_alias_can_be_rolled_back(store: str, tmp_path: Path) -> None:
    # The training pipeline's export registers each new model straight as @champion.
    client = client_for(store)
    for version in ("v1", "v2"):
        directory, _ = model_dir(tmp_path, "trained", version)
        run = client.create_run(client.get_experiment_by_name("inferq").experiment_id)
        register_model_dir(
            client, run.info.run_id, directory, name="trained", alias="champion", tags={}
        )
    move = rollback(store, "trained")
    assert (move.previous, move.version) == ("2", "1")


def test_a_deleted_version_is_skipped_by_a_rollback(store: str, tmp_path: Path) -> None:
    register(store, tmp_path, "pruned", ["v1", "v2", "v3"], alias="champion")
    client_for(store).delete_model_version("pruned", "2")
    assert rollback(store, "pruned").version == "1"


def test_list_shows_aliases_card_version_data_hash_and_test_metrics(
    store: str, tmp_path: Path
) -> None:
    register(store, tmp_path, "listed", ["v1", "v2"], alias="candidate")
    promote(store, "listed", "1")
    first = list_versions(store, "listed")[0]
    log_metrics(client_for(store), first.run_id, {"test_accuracy": 0.9, "train_loss": 0.1})
    versions = list_versions(store, "listed")
    assert [(v.version, v.aliases, v.card_version) for v in versions] == [
        ("1", ["champion"], "v1"),
        ("2", ["candidate"], "v2"),
    ]
    assert versions[0].data_hash == "v1".rjust(64, "0")
    assert versions[0].metrics == {"test_accuracy": 0.9}
    assert "listed" in {v.name for v in list_versions(store)}


def test_unknown_models_and_versions_are_clear_errors(store: str, tmp_path: Path) -> None:
    register(store, tmp_path, "known", ["v1"], alias="candidate")
    with pytest.raises(RegistryError, match="no registered model 'unknown'"):
        promote(store, "unknown", "1")
    with pytest.raises(RegistryError, match="known has no version '7'"):
        promote(store, "known", "7")
    with pytest.raises(RegistryError, match="no registered model"):
        list_versions(store, "unknown")
