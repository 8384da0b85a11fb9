"""Where a model came from: the git commit (and whether the tree matched it) and the data
DVC recorded for its training.

A tree is dirty when `git status` shows a change outside what the pipeline itself writes
(`dvc.lock` and the outs, metrics and plots of `dvc.yaml`): code, `params.yaml` or
`dvc.yaml` edited and not committed, or a new file not yet added. A repository without a
commit has no commit to differ from: the card's empty `git_commit` already says so.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DVC_YAML = Path("dvc.yaml")
DVC_LOCK = Path("dvc.lock")
TRAIN_STAGE = "train"
TRAINING_DATA = "data/prepared"


class DirtyTreeError(ValueError):
    """Raised when export would record a commit that does not describe the code."""


@dataclass(frozen=True)
class GitState:
    """The commit a working tree is at and the changes it has on top (paths)."""

    commit: str
    changes: tuple[str, ...]

    @property
    def dirty(self) -> bool:
        """Whether the tree differs from the commit."""
        return bool(self.changes)


def _git(args: list[str], cwd: Path | None) -> str | None:
    """Return git's output, or None outside a repository or without git."""
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def pipeline_outputs(dvc_yaml: Path) -> set[str]:
    """Return the paths the pipeline writes: dvc.lock and every stage's outs/metrics/plots."""
    outputs = {DVC_LOCK.as_posix()}
    if not dvc_yaml.is_file():
        return outputs
    stages: dict[str, Any] = (yaml.safe_load(dvc_yaml.read_text()) or {}).get("stages", {})
    for stage in stages.values():
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind, []):
                outputs.add(next(iter(entry)) if isinstance(entry, dict) else str(entry))
    return {path.rstrip("/") for path in outputs}


def _is_output(path: str, outputs: set[str]) -> bool:
    return any(path == out or path.startswith(out + "/") for out in outputs)


def git_state(cwd: Path | None = None) -> GitState:
    """Return the commit and the uncommitted changes that are not pipeline outputs."""
    commit = (_git(["rev-parse", "--verify", "HEAD"], cwd) or "").strip()
    if not commit:
        return GitState("", ())
    status = _git(["status", "--porcelain", "--untracked-files=all"], cwd) or ""
    outputs = pipeline_outputs((cwd or Path()) / DVC_YAML)
    paths = [line[3:].split(" -> ")[-1].strip('"') for line in status.splitlines() if line]
    return GitState(commit, tuple(path for path in paths if not _is_output(path, outputs)))


def dvc_data_hash(lock: Path = DVC_LOCK) -> str:
    """Return the md5 dvc.lock records for the data the train stage read, or ""."""
    if not lock.is_file():
        return ""
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    for dep in stages.get(TRAIN_STAGE, {}).get("deps", []):
        if dep.get("path", "").rstrip("/") == TRAINING_DATA:
            return str(dep.get("md5", ""))
    return ""


def require_clean(state: GitState, *, allow_dirty: bool) -> None:
    """Raise DirtyTreeError naming the changes unless the tree is clean or dirt is allowed."""
    if state.dirty and not allow_dirty:
        shown = ", ".join(state.changes[:10]) + (" ..." if len(state.changes) > 10 else "")
        raise DirtyTreeError(
            f"the working tree has uncommitted changes ({shown}): commit them, or export "
            "anyway with --allow-dirty (registry.allow_dirty) and the card says git_dirty: true"
        )
