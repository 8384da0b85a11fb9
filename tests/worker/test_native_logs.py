"""Native lines become records: TensorFlow's start-up notices at DEBUG, problems above."""

from __future__ import annotations

import logging

import pytest

from worker.native_logs import line_level

STARTUP = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796203752.469770   16503 port.cc:153] oneDNN custom operations are on.",
    "I1202 09:51:52.993682   32654 cpu_feature_guard.cc:227] This TensorFlow binary is ...",
]


@pytest.mark.parametrize("line", STARTUP)
def test_tensorflow_startup_notices_are_debug(line: str) -> None:
    assert line_level(line) == logging.DEBUG


def test_absl_warnings_and_errors_keep_their_level() -> None:
    assert line_level("W0000 00:00:1.0  1 gpu.cc:1] no GPU found") == logging.WARNING
    assert line_level("E1202 10:00:00.0  1 op.cc:2] kernel failed") == logging.ERROR
    assert line_level("F0000 00:00:1.0  1 check.cc:3] Check failed") == logging.CRITICAL
    assert line_level("something Celery printed") == logging.INFO
