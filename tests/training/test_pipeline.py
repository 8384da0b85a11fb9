"""The DVC pipeline for real: `dvc repro` in a temporary copy of the repo on a tiny dataset.

Checks the outputs, the patient-disjoint split, the model card and registry, that the
served model scores bytes exactly as the evaluation did, and that a second repro is a no-op.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from core.model_card import ModelCard
from core.preprocessing import decode_image
from worker.model_holder import load_model
from worker.model_source import resolve_model

ROOT = Path(__file__).parents[2]
COPIED = ["core", "training", "dvc.yaml", "params.yaml", ".dvc/config", ".dvcignore"]
# 24 test tiles cannot resolve half a point of accuracy: the int8 limits are left wide here
# (tests/training/test_quantize.py holds them to account).
TINY = {
    "generate": {"n_tiles": 120},
    "train": {"epochs": 2},
    "quantization": {"representative_images": 32, "max_accuracy_drop": 1.0, "max_auc_drop": 1.0},
}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _dvc(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run dvc in repo with this venv's python first on PATH and no inherited settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERQ_")}
    env |= {"PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}", "INFERQ_LOG_JSON": "0"}
    dvc = Path(sys.executable).parent / "dvc"
    return subprocess.run(
        [str(dvc), *args], cwd=repo, env=env, capture_output=True, text=True, timeout=840
    )


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Copy the pipeline's sources, shrink the params, and run `dvc repro` once."""
    repo = tmp_path_factory.mktemp("repo")
    for name in COPIED:
        source, target = ROOT / name, repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in TINY.items():
        params[section].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    result = _dvc(repo, "repro")
    assert result.returncode == 0, result.stdout + result.stderr
    return repo


def _patients(path: Path) -> set[str]:
    with path.open() as handle:
        return {row["patient_id"] for row in csv.DictReader(handle)}


def test_outputs_exist_and_the_split_is_patient_disjoint(repo: Path) -> None:
    train, val, test = (_patients(repo / f"data/split/{n}.csv") for n in ("train", "val", "test"))
    assert train and test
    assert not (train & val or train & test or val & test)
    for name in ("roc.png", "confusion_matrix.png", "training_curves.png"):
        assert (repo / "reports/plots" / name).read_bytes().startswith(b"\x89PNG")
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc", "patient_accuracy"):
        assert key in metrics["test"]
    assert metrics["image_level_split"]["shared_patients"] > 0
    assert (repo / "dvc.lock").exists()


def test_model_card_ties_the_model_to_data_and_results(repo: Path) -> None:
    card = ModelCard.read(repo / "models/default")
    meta = json.loads((repo / "data/prepared/meta.json").read_text())
    assert card.name == "inferq-small-cnn"
    assert card.data_hash == meta["data_hash"]
    assert card.version.endswith(card.data_hash[:8])
    for key in ("test_accuracy", "test_auc", "n_train", "n_test_patients"):
        assert key in card.metrics
    assert card.metrics["n_train"] + card.metrics["n_val"] + card.metrics["n_test"] == 120
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    trained_on = {d["path"]: d["md5"] for d in lock["stages"]["train"]["deps"]}
    assert card.dvc_data_hash == trained_on["data/prepared"]
    assert (card.training_images.color_mode, card.training_images.tile_size) == ("rgb", (96, 96))
    assert (card.git_commit, card.git_dirty) == ("", False)  # a repository with no commit


def test_served_model_scores_bytes_as_the_evaluation_did(repo: Path) -> None:
    with (repo / "reports/predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    loaded = load_model(str(repo / "models/default"), max_batch_size=16, runtime="tensorflow")
    resample = loaded.card.preprocessing.resample
    images = np.stack(
        [
            decode_image(
                (repo / row["path"]).read_bytes(), loaded.card.input_size, resample=resample
            )
            for row in rows
        ]
    )
    served, _ = loaded.predict(images)
    evaluated = np.array(
        [[float(row[f"score_{c}"]) for c in loaded.card.class_names] for row in rows]
    )
    np.testing.assert_allclose(served, evaluated, atol=2e-6)


def test_the_card_records_each_precision_and_int8_serves_without_tensorflow(repo: Path) -> None:
    card = ModelCard.read(repo / "models/default")
    described = {(entry.file, entry.runtime, entry.precision) for entry in card.files}
    assert described == {
        ("model.keras", "tensorflow", "fp32"),
        ("model.tflite", "litert", "fp32"),
        ("model-int8.tflite", "litert", "int8"),
    }
    int8 = next(entry for entry in card.files if entry.precision == "int8")
    report = json.loads((repo / "reports/quantization.json").read_text())
    assert int8.metrics == report["precisions"]["int8"]
    for key in ("accuracy", "roc_auc", "accuracy_drop", "roc_auc_drop", "label_agreement"):
        assert key in int8.metrics
    loaded = load_model(str(repo / "models/default"), max_batch_size=16)  # auto: int8
    assert (loaded.runtime, loaded.precision) == ("litert", "int8")


def test_champion_in_the_registry_is_the_exported_model(repo: Path, tmp_path: Path) -> None:
    local = resolve_model(
        "models:/inferq-small-cnn@champion",
        tracking_uri=f"sqlite:///{repo / 'mlflow.db'}",
        cache_dir=tmp_path,
    ).directory
    exported = repo / "models/default"
    assert ModelCard.read(local) == ModelCard.read(exported)
    assert (local / "model.keras").read_bytes() == (exported / "model.keras").read_bytes()


def test_second_repro_does_nothing(repo: Path) -> None:
    result = _dvc(repo, "repro")
    assert result.returncode == 0, result.stderr
    assert "Running stage" not in result.stdout
    assert "up to date" in result.stdout
