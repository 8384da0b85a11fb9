"""TensorFlow's start-up lines go to the data folder's log, not to what a person reads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.native_output import NATIVE_LOG

STARTUP_MARKS = ("absl::InitializeLog", "I0000 ", "oneDNN", "cpu_feature_guard")


def test_models_import_keeps_tensorflow_startup_lines_in_a_log(tmp_path: Path) -> None:
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a keras file")
    # At TensorFlow's most verbose level its import always says something (which lines
    # depends on the CPU); at the default the process sets (2) it may say nothing.
    env = {**os.environ, "INFERQ_DATA_DIR": str(tmp_path / "data"), "TF_CPP_MIN_LOG_LEVEL": "0"}
    command = [sys.executable, "-m", "cli.main", "models", "import", str(broken)]
    options = ["--classes", "a,b", "--input-size", "32", "--out", str(tmp_path / "m")]
    answer = subprocess.run(
        [*command, *options], env=env, capture_output=True, text=True, timeout=120
    )
    shown = answer.stdout + answer.stderr
    assert answer.returncode != 0 and "broken.keras" in shown, shown  # the one-line refusal
    assert not [mark for mark in STARTUP_MARKS if mark in shown], shown
    log = (tmp_path / "data" / NATIVE_LOG).read_text()
    assert [mark for mark in STARTUP_MARKS if mark in log], log  # kept, where the README says
