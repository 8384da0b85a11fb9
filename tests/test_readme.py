"""The README's commands that need no server run, as written, on a fresh clone.

A shell block preceded by `<!-- readme-check: runs without a server -->` is run in a
fresh folder (only `.venv` linked in, no `.env`, no INFERQ_ variables), so on the embedded
defaults; the blocks run in order in one shell, as a reader would type them.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = "<!-- readme-check: runs without a server -->"
BLOCK = re.compile(re.escape(MARK) + r"\s*```sh\n(.*?)```", re.DOTALL)


def offline_blocks(text: str) -> list[str]:
    """Return the marked shell blocks of a Markdown text."""
    return BLOCK.findall(text)


def test_every_marker_is_followed_by_a_shell_block() -> None:
    text = (ROOT / "README.md").read_text()
    assert text.count(MARK) == len(offline_blocks(text)) >= 2


def test_the_readme_blocks_without_a_server_run_on_a_fresh_clone(tmp_path: Path) -> None:
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    env = {name: value for name, value in os.environ.items() if not name.startswith("INFERQ_")}
    blocks = offline_blocks((ROOT / "README.md").read_text())
    # What the blocks promise, checked after them: a key in the shell, tiles on disk.
    checks = 'test -n "$INFERQ_API_KEY"\nls first-hour/tiles/*/*.png > /dev/null\n'
    script = "set -euo pipefail\n" + "\n".join(blocks) + checks
    answer = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert (tmp_path / ".inferq").is_dir()  # the embedded defaults, in the fresh folder
    assert "lab" in answer.stdout  # `keys list` shows the key made above
