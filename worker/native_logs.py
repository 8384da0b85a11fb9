"""Lines written straight to file descriptors 1 and 2, as log records.

TensorFlow's C++ runtime logs through absl before any Python logging exists (ignoring
TF_CPP_MIN_LOG_LEVEL for some notices), and Celery prints some notices to the original
stdout. With JSON logging on, each descriptor becomes a pipe read by a thread that turns
every line into a record of the `native` logger; Python's `sys.stdout` and `sys.stderr`
keep writing to the real descriptors, so log records do not loop back.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading

logger = logging.getLogger("native")

SEVERITY = {"E": logging.ERROR, "F": logging.CRITICAL, "W": logging.WARNING}
#: absl's own line format: a severity letter, then the date or 0000 ("I0000 00:00:...").
ABSL_LINE = re.compile(r"^([IWEF])\d{4} ")
#: What absl prints once before it is initialised: a notice, not a warning about anything.
ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called"


def line_level(text: str) -> int:
    """Return a line's level: TensorFlow's informational start-up notices are DEBUG."""
    if text.startswith(ABSL_PREAMBLE):
        return logging.DEBUG
    if match := ABSL_LINE.match(text):
        return SEVERITY.get(match.group(1), logging.DEBUG)
    return SEVERITY.get(text[:1], logging.INFO)


def forward_lines(read_fd: int) -> None:
    """Log every line that arrives on the pipe, at the severity absl's prefix gives it."""
    with os.fdopen(read_fd, "r", errors="replace") as pipe:
        for line in pipe:
            text = line.rstrip()
            if text:
                logger.log(line_level(text), text)


def route_native_output() -> None:
    """Point descriptors 1 and 2 at pipes whose lines become records."""
    sys.stdout.flush()
    sys.stderr.flush()
    sys.stdout = os.fdopen(os.dup(1), "w", buffering=1)
    sys.stderr = os.fdopen(os.dup(2), "w", buffering=1)
    for fd in (1, 2):
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, fd)
        os.close(write_fd)
        name = f"inferq-native-{fd}"
        threading.Thread(target=forward_lines, args=(read_fd,), name=name, daemon=True).start()
