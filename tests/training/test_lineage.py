"""Lineage on the card: the git commit with a dirty flag (export refuses dirt unless
forced) and the md5 dvc.lock recorded for the data the model was trained on."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from training.lineage import DirtyTreeError, dvc_data_hash, git_state, require_clean
from training.params import PipelineParams
from training.stages.export import command, make_card

PREPARED_MD5 = "3f2c1e0a9b8d7c6b5a4f3e2d1c0b9a88.dir"
DVC_YAML = {
    "stages": {
        "train": {"cmd": "true", "deps": ["data/prepared"], "outs": ["data/model"]},
        "evaluate": {
            "cmd": "true",
            "metrics": [{"reports/metrics.json": {"cache": False}}],
            "plots": ["reports/plots/roc.png"],
        },
    }
}
DVC_LOCK = {
    "schema": "2.0",
    "stages": {
        "train": {
            "cmd": "true",
            "deps": [
                {"path": "data/prepared", "hash": "md5", "md5": PREPARED_MD5, "nfiles": 4},
                {"path": "training/train.py", "hash": "md5", "md5": "0" * 32},
            ],
        }
    },
}


def git(repo: Path, *args: str) -> str:
    """Run git in repo and return its output."""
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A committed pipeline checkout with the files the export stage reads; cwd is its root."""
    repo = tmp_path / "repo"
    (repo / "training").mkdir(parents=True)
    (repo / "training/train.py").write_text("EPOCHS = 20\n")
    (repo / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML))
    (repo / "dvc.lock").write_text(yaml.safe_dump(DVC_LOCK))
    (repo / "reports").mkdir()
    (repo / "reports/metrics.json").write_text(json.dumps({"test": {"accuracy": 0.9}}))
    counts = {"images": 10, "patients": 2}
    split = {"patient_level": {name: counts for name in ("train", "val", "test")}}
    (repo / "reports/split.json").write_text(json.dumps(split))
    (repo / "params.yaml").write_text("seed: 0\n")
    (repo / ".gitignore").write_text("/data/\n")
    (repo / "data/prepared").mkdir(parents=True)
    meta = {
        "class_names": ["benign", "malignant"],
        "data_hash": "a" * 64,
        "training_images": {"color_mode": "rgb", "tile_size": [96, 96]},
    }
    (repo / "data/prepared/meta.json").write_text(json.dumps(meta))
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "pipeline")
    monkeypatch.chdir(repo)
    return repo


def test_pipeline_outputs_do_not_make_the_tree_dirty(repo: Path) -> None:
    # What `dvc repro` itself rewrites before export runs.
    (repo / "dvc.lock").write_text(yaml.safe_dump(DVC_LOCK) + "# rerun\n")
    (repo / "reports/metrics.json").write_text("{}")
    (repo / "reports/plots").mkdir()
    (repo / "reports/plots/roc.png").write_bytes(b"png")
    state = git_state()
    assert state.commit == git(repo, "rev-parse", "HEAD").strip()
    assert not state.dirty, state.changes


def test_changed_code_params_or_new_files_are_dirt(repo: Path) -> None:
    (repo / "training/train.py").write_text("EPOCHS = 21\n")
    (repo / "training/new_layer.py").write_text("")
    state = git_state()
    assert state.dirty
    assert set(state.changes) == {"training/train.py", "training/new_layer.py"}
    with pytest.raises(DirtyTreeError, match=r"training/train\.py.*--allow-dirty"):
        require_clean(state, allow_dirty=False)
    require_clean(state, allow_dirty=True)  # forced: no error


def test_export_refuses_a_dirty_tree_unless_forced_and_says_so(repo: Path) -> None:
    params = PipelineParams()
    clean = make_card(params)
    assert clean.git_commit == git(repo, "rev-parse", "HEAD").strip()
    assert clean.git_dirty is False
    assert clean.dvc_data_hash == PREPARED_MD5
    assert clean.training_images.color_mode == "rgb"
    assert clean.training_images.tile_size == (96, 96)

    (repo / "training/train.py").write_text("EPOCHS = 99\n")
    with pytest.raises(DirtyTreeError, match="uncommitted changes"):
        make_card(params)
    forced = params.model_copy(
        update={"registry": params.registry.model_copy(update={"allow_dirty": True})}
    )
    dirty = make_card(forced)
    assert dirty.git_dirty is True
    assert dirty.git_commit == clean.git_commit


def test_export_command_exits_1_with_the_reason_on_a_dirty_tree(repo: Path) -> None:
    app = typer.Typer()
    app.command()(command)
    (repo / "training/train.py").write_text("EPOCHS = 99\n")
    result = CliRunner().invoke(app, [])
    assert result.exit_code == 1
    assert "uncommitted changes (training/train.py)" in result.output
    assert not (repo / "models").exists()  # nothing exported


def test_no_commit_means_no_commit_and_no_dirt(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "file.py").write_text("")
    assert git_state(tmp_path).commit == ""
    assert not git_state(tmp_path).dirty


def test_dvc_data_hash_reads_the_train_stage_dependency(tmp_path: Path) -> None:
    lock = tmp_path / "dvc.lock"
    assert dvc_data_hash(lock) == ""  # not trained by the pipeline
    lock.write_text(yaml.safe_dump(DVC_LOCK))
    assert dvc_data_hash(lock) == PREPARED_MD5
