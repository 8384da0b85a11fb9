"""The stack side of `inferq bench`: start it, watch it during a load, check its results."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console

from cli.bench_cpu import CpuSplit, CpuWatch
from cli.bench_probe import HealthzWatch
from cli.load import LoadResult
from cli.stack import Stack, free_port

console = Console()


@dataclass
class ModeResult:
    """One end-to-end mode of one model."""

    images_per_second: float
    ratio_to_raw: float
    mean_batch_size: float | None
    latency_ms: dict[str, float]
    statuses: dict[str, int]
    healthz_max_ms: float | None = None
    bare_max_ms: float | None = None  # a bare server's slowest answer, timed alongside
    wake_ups_sent: float | None = None  # share of the mode's items whose wake-up was sent
    # The worker's model speed over its own batches, as a ratio to raw (below 1: slowed by
    # what shares the cores), and the share of the mode's seconds it was running: the mode's
    # ratio is about their product when batches are full.
    model_ratio_to_raw: float | None = None
    model_busy: float | None = None
    raw_images_per_second: float | None = None  # raw speed measured just before the mode
    cpu: CpuSplit | None = None  # CPU ms an image by part of the stack (cli.bench_cpu)


class WakeUpCounters:
    """Reads the gateway's wake-up counters: items whose wake-up was sent, and skipped."""

    def __init__(self, gateway_url: str) -> None:
        self.url = gateway_url.rstrip("/") + "/metrics"

    def read(self) -> tuple[float, float]:
        """Return (sent, skipped) so far."""
        return wake_up_counts(httpx.get(self.url, timeout=10).text)


def wake_up_counts(metrics: str) -> tuple[float, float]:
    """Return (sent, skipped) from the gateway's /metrics text."""
    found = dict(re.findall(r'inferq_wake_ups_total\{outcome="(\w+)"\} ([\d.e+]+)', metrics))
    return float(found.get("sent", 0)), float(found.get("skipped", 0))


@dataclass(frozen=True)
class BatchCounts:
    """The worker's running totals: batches, images, and seconds its model ran."""

    batches: int = 0
    images: int = 0
    model_seconds: float = 0.0

    def __sub__(self, before: BatchCounts) -> BatchCounts:
        return BatchCounts(
            self.batches - before.batches,
            self.images - before.images,
            self.model_seconds - before.model_seconds,
        )


def batch_counts(metrics: str) -> BatchCounts:
    """Read the batch totals from a worker's /metrics text (zeros for what is missing)."""
    batches = re.search(r"^inferq_worker_batches_total ([\d.e+]+)", metrics, re.M)
    images = re.search(r"^inferq_worker_images_total ([\d.e+]+)", metrics, re.M)
    model = re.search(r"^inferq_worker_inference_seconds_sum ([\d.e+-]+)", metrics, re.M)
    return BatchCounts(
        int(float(batches.group(1))) if batches else 0,
        int(float(images.group(1))) if images else 0,
        float(model.group(1)) if model else 0.0,
    )


class WorkerCounters:
    """Reads the worker's batch counters, so a phase's mean batch size and model time can
    be computed."""

    def __init__(self, health_url: str) -> None:
        self.url = health_url.rstrip("/") + "/metrics"

    def read(self) -> BatchCounts:
        """Return the totals so far."""
        return batch_counts(httpx.get(self.url, timeout=10).text)


def measure_mode(
    name: str, stack: Stack, counters: WorkerCounters, raw: float, run: Callable[[], LoadResult]
) -> ModeResult:
    """Run one load with /healthz timed alongside; turn it into a mode's figures."""
    watch = HealthzWatch(stack.url)
    wake_ups = WakeUpCounters(stack.url)
    assert stack.gateway is not None, "start the gateway first"
    cpu = CpuWatch([stack.gateway.pid], [worker.pid for worker in stack.workers])
    before = counters.read()
    sent_before, skipped_before = wake_ups.read()
    cpu.start()
    try:
        watch.start()
        load = run()
    finally:
        slowest = watch.stop()
    ran = counters.read() - before
    split = cpu.stop(ran.images)
    sent, skipped = wake_ups.read()
    handed = (sent - sent_before) + (skipped - skipped_before)
    rate = load.done / load.seconds
    model_rate = ran.images / ran.model_seconds if ran.model_seconds else None
    console.print(f"  {name}: {rate:.1f} img/s ({rate / raw:.3f} x raw), {load.percentiles_ms}")
    return ModeResult(
        wake_ups_sent=round((sent - sent_before) / handed, 3) if handed else None,
        images_per_second=round(rate, 1),
        ratio_to_raw=round(rate / raw, 3),
        mean_batch_size=round(ran.images / ran.batches, 1) if ran.batches else None,
        latency_ms=load.percentiles_ms,
        statuses=load.statuses,
        healthz_max_ms=round(slowest.healthz_ms, 1),
        bare_max_ms=round(slowest.bare_ms, 1),
        model_ratio_to_raw=round(model_rate / raw, 3) if model_rate else None,
        model_busy=round(ran.model_seconds / load.seconds, 3) if ran.model_seconds else None,
        raw_images_per_second=round(raw, 1),
        cpu=split,
    )


def start_stack(env: dict[str, str], log_dir: Path, starts: int = 3) -> tuple[Stack, float, float]:
    """Start gateway and worker; return the stack, gateway cold start and worker ready (s).

    The cold start is the median of `starts` gateway starts (all but the last stopped at
    once): one start on a shared machine can be a third slower than the next.
    """
    stack = Stack(url=f"http://127.0.0.1:{free_port()}", env=env, log_dir=log_dir)
    cold_starts = []
    for attempt in range(starts):
        started = time.monotonic()
        stack.start_gateway()
        stack.wait_ready()
        cold_starts.append(time.monotonic() - started)
        if attempt < starts - 1:
            stack.stop_gateway()
    started = time.monotonic()
    stack.start_worker()
    stack.wait_workers_ready()
    return stack, statistics.median(cold_starts), time.monotonic() - started


def exactly_once(database_url: str, timeout: float = 300.0) -> bool:
    """Return whether every item that finished has exactly one result, and none is left.

    The last mode's load generator stops with requests in flight (64 `/predict` calls
    whose images are still queued): the check waits up to `timeout` seconds for them.
    """
    from sqlalchemy import func, select

    from db.models import Item, ItemStatus, Result
    from db.session import get_session

    unfinished_statuses = [ItemStatus.QUEUED, ItemStatus.RUNNING]
    deadline = time.monotonic() + timeout
    while True:
        with get_session(database_url) as session:
            unfinished = session.scalar(
                select(func.count()).where(Item.status.in_(unfinished_statuses))
            )
            succeeded = session.scalar(
                select(func.count()).where(Item.status == ItemStatus.SUCCEEDED)
            )
            results = session.scalar(select(func.count()).select_from(Result))
        if unfinished == 0 or time.monotonic() > deadline:
            return succeeded == results and unfinished == 0
        time.sleep(0.5)
