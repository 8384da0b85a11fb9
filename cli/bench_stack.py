"""The stack side of `inferq bench`: start it, watch it during a load, check its results."""

from __future__ import annotations

import multiprocessing
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from multiprocessing.context import SpawnProcess
from multiprocessing.sharedctypes import Synchronized, SynchronizedArray
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

import httpx
from rich.console import Console

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


PROBE_TIMEOUT_SECONDS = 30.0


class BareHandler(BaseHTTPRequestHandler):
    """Answers every GET with 200 at once: nothing but the machine stands between a probe
    and its answer."""

    protocol_version = "HTTP/1.1"  # keep the prober's connection, as the gateway does

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        return


def serve_bare(port: Synchronized[int]) -> None:
    """Serve BareHandler on a free loopback port (written to `port`) until terminated."""
    server = HTTPServer(("127.0.0.1", 0), BareHandler)
    port.value = server.server_port
    server.serve_forever()


def probe(client: httpx.Client, url: str) -> float:
    """Return how long one GET took in ms (the whole timeout when it failed)."""
    started = time.perf_counter()
    try:
        client.get(url).raise_for_status()
    except httpx.HTTPError:  # no answer, or an error: as slow as the whole timeout
        return PROBE_TIMEOUT_SECONDS * 1000
    return (time.perf_counter() - started) * 1000


def probe_healthz(
    urls: tuple[str, str], stop: EventType, slowest_ms: SynchronizedArray[float]
) -> None:
    """Time GET on each URL every 100 ms until `stop` is set, keeping each one's slowest."""
    with httpx.Client(timeout=PROBE_TIMEOUT_SECONDS) as client:
        while not stop.wait(0.1):
            for index, url in enumerate(urls):
                slowest_ms[index] = max(slowest_ms[index], probe(client, url))


@dataclass(frozen=True)
class Slowest:
    """The slowest answers of one watch: the gateway's /healthz, and a bare server's."""

    healthz_ms: float
    bare_ms: float


class HealthzWatch:
    """Times GET /healthz every 100 ms while a load runs, from a process of its own: a
    thread of the bench would wait on its load generators' GIL, not on the gateway.

    A bare HTTP server in another process (BareHandler) is timed by the same prober at the
    same moments: its slowest answer is the share of the tail that the machine's scheduler
    and the prober cause, whatever the gateway does.
    """

    def __init__(self, url: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._slowest = context.Array("d", 2)
        self._port = context.Value("i", 0)
        self._bare = context.Process(target=serve_bare, args=(self._port,), daemon=True)
        self._url = url + "/healthz"
        self._process: SpawnProcess | None = None
        self._context = context

    def start(self) -> None:
        """Start the bare server and the prober; return once both answered once."""
        self._bare.start()
        while not self._port.value and self._bare.is_alive():
            time.sleep(0.02)
        urls = (self._url, f"http://127.0.0.1:{self._port.value}/")
        self._process = self._context.Process(
            target=probe_healthz, args=(urls, self._stop, self._slowest), daemon=True
        )
        self._process.start()
        while not all(self._slowest[:]) and self._process.is_alive():
            time.sleep(0.02)

    def stop(self) -> Slowest:
        """Stop probing and the bare server; return the slowest answers."""
        self._stop.set()
        if self._process is not None:  # started
            self._process.join(timeout=PROBE_TIMEOUT_SECONDS + 5)
            if self._process.is_alive():
                self._process.terminate()
        if self._bare.is_alive():
            self._bare.terminate()
            self._bare.join(timeout=5)
        return Slowest(float(self._slowest[0]), float(self._slowest[1]))


def measure_mode(
    name: str, stack: Stack, counters: WorkerCounters, raw: float, run: Callable[[], LoadResult]
) -> ModeResult:
    """Run one load with /healthz timed alongside; turn it into a mode's figures."""
    watch = HealthzWatch(stack.url)
    wake_ups = WakeUpCounters(stack.url)
    before = counters.read()
    sent_before, skipped_before = wake_ups.read()
    try:
        watch.start()
        load = run()
    finally:
        slowest = watch.stop()
    ran = counters.read() - before
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
