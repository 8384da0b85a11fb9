"""The bench's CPU split: real processes burning real CPU, read back from /proc."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli.bench import ModelResult
from cli.bench_cpu import CpuSplit, CpuWatch, descendants, processes
from cli.bench_report import cpu_lines
from cli.bench_stack import ModeResult

pytestmark = pytest.mark.skipif(not Path("/proc/stat").exists(), reason="reads Linux's /proc")

SPIN = "import time\nwhile time.process_time() < {seconds}: pass\n"
WAIT = "import sys\nsys.stdin.read()\n"


def spinner(seconds: float) -> subprocess.Popen[bytes]:
    """Start a process that burns `seconds` of CPU, then waits for its stdin to close."""
    code = SPIN.format(seconds=seconds) + WAIT
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)


def finish(process: subprocess.Popen[bytes]) -> None:
    assert process.stdin is not None
    process.stdin.close()
    process.wait(timeout=30)


def test_a_client_that_ended_during_the_mode_counts_as_load() -> None:
    gateway = subprocess.Popen([sys.executable, "-c", WAIT], stdin=subprocess.PIPE)
    idle_worker = subprocess.Popen([sys.executable, "-c", WAIT], stdin=subprocess.PIPE)
    try:
        watch = CpuWatch([gateway.pid], [idle_worker.pid])
        watch.start()
        busy = spinner(0.6)
        table = processes()
        assert busy.pid in descendants(busy.pid, table)
        finish(busy)
        split = watch.stop(images=10)
    finally:
        finish(gateway)
        finish(idle_worker)
    assert split is not None
    assert busy.pid not in descendants(gateway.pid, table)
    # The spinner is this test's child, not the gateway's: its time (reaped, so in this
    # process's children's time) is the load's, nothing of it the gateway's or the worker's.
    assert split.ms_per_image["load"] >= 50.0  # 0.6 s over 10 images, less the clock's grain
    assert split.ms_per_image["gateway"] < 10.0
    assert split.ms_per_image["worker"] < 10.0
    assert 0.0 < split.machine_busy <= 1.0


def test_a_process_below_the_gateway_is_the_gateways() -> None:
    # The gateway starts a child that burns CPU and keeps running (a uvicorn worker process,
    # say): only its descent from the gateway makes its time the gateway's.
    child = SPIN.format(seconds=0.5) + WAIT
    code = (
        "import subprocess, sys\n"
        f"child = subprocess.Popen([sys.executable, '-c', {child!r}])\n" + WAIT + "child.wait()\n"
    )
    gateway = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
    try:
        watch = CpuWatch([gateway.pid], [])
        watch.start()
        counted = None
        for _ in range(300):  # until the child has burnt its CPU
            split = watch.stop(images=5)
            assert split is not None
            if split.ms_per_image["gateway"] >= 80.0:  # 0.5 s over 5 images, less the grain
                counted = split
                break
            time.sleep(0.05)
        assert len(descendants(gateway.pid, processes())) == 2  # the child still runs
    finally:
        finish(gateway)
    assert counted is not None, "the CPU of the gateway's child was never counted"
    assert counted.ms_per_image["worker"] == 0.0


def test_no_images_no_split() -> None:
    watch = CpuWatch([], [])
    watch.start()
    assert watch.stop(images=0) is None


def test_the_report_prints_each_modes_split() -> None:
    split = CpuSplit(
        {"gateway": 3.8, "worker": 2.2, "PostgreSQL": 1.3, "Redis": 0.05, "load": 0.3}, 0.94
    )
    single = ModeResult(230.0, 0.077, 7.0, {}, {}, cpu=split)
    bulk = ModeResult(900.0, 0.3, 64.0, {}, {})  # a report from before the split: no line
    result = ModelResult(
        "small_cnn", "tensorflow", (96, 96), 64, 3000.0, 1.0, 4.0, {"single": single, "bulk": bulk}
    )
    assert split.total_ms == 7.65
    assert cpu_lines([result]) == [
        "small_cnn tensorflow single: CPU ms an image: gateway 3.80, worker 2.20, "
        "PostgreSQL 1.30, Redis 0.05, load 0.30; total 7.65 ms, machine 94% busy"
    ]
