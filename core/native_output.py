"""Keep what TensorFlow's C++ runtime prints at start-up out of a person's terminal.

TensorFlow writes its start-up notices (absl's "All log messages before
absl::InitializeLog()", oneDNN, CPU features) straight to file descriptor 2 while it is
imported, before any Python logging exists and whatever TF_CPP_MIN_LOG_LEVEL says. The
commands that train or load a model in their own process (`train`, `models import`,
`demo`, `bench`) import it through `import_tensorflow`, which sends those lines to a log
file instead. Workers do the same through their own log (worker/native_logs.py).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NATIVE_LOG = "logs/tensorflow.log"  # under INFERQ_DATA_DIR


@contextmanager
def native_output_to(log_path: Path) -> Iterator[None]:
    """Send what native code writes to descriptors 1 and 2 into a file, meanwhile."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    try:
        with log_path.open("ab") as log:
            for fd in saved:
                os.dup2(log.fileno(), fd)
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)


def import_tensorflow(data_dir: Path) -> Path:
    """Import TensorFlow with its start-up lines in the data folder's log; return the log."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # and its later C++ notices off
    log_path = data_dir / NATIVE_LOG
    if "tensorflow" not in sys.modules:
        with native_output_to(log_path):
            importlib.import_module("tensorflow")
    return log_path
