"""`inferq bench`'s priority figure: `POST /predict` p95 while a 20,000-image bulk job
runs, against its idle p95 measured in the same run on the same stack.

The bulk job is uploaded while the worker is paused (SIGSTOP), so that all of it is
queued when the worker resumes (SIGCONT) and the /predict load starts: the worker then
has a backlog of 20,000 bulk images for the whole measurement window. The job's leftover
is cancelled afterwards, so the window, not the job, sets the bench's duration, and the
idle load runs once more; the ratio is the busy p95 over the mean of the two idle p95s.
"""

from __future__ import annotations

import io
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import numpy as np
from PIL import Image
from rich.console import Console

from cli.load import LoadResult, Target, run_clients, run_wrk_predict, wait_final, wrk_available
from cli.stack import Stack

console = Console()
REQUEST_IMAGES = 500


@dataclass
class PriorityResult:
    """Predict latency idle and under a bulk backlog, and how the bulk job fared meanwhile."""

    bulk_images: int
    connections: int
    idle_ms: dict[str, float] = field(default_factory=dict)
    idle_after_ms: dict[str, float] = field(default_factory=dict)  # once the job is cancelled
    busy_ms: dict[str, float] = field(default_factory=dict)
    idle_statuses: dict[str, int] = field(default_factory=dict)
    busy_statuses: dict[str, int] = field(default_factory=dict)
    p95_ratio: float | None = None
    upload_seconds: float = 0.0
    bulk_done_in_window: int = 0
    bulk_queued_after: int = 0
    # Where a busy /predict's time went, from its result row: upload to claim, to result.
    busy_queue_ms: dict[str, float] = field(default_factory=dict)
    busy_total_ms: dict[str, float] = field(default_factory=dict)


def distinct_tiles(base: bytes, start: int, count: int) -> list[bytes]:
    """Return `count` distinct PNGs: the base tile with its first pixels set to its index."""
    pixels = np.asarray(Image.open(io.BytesIO(base)).convert("RGB")).copy()
    tiles = []
    for index in range(start, start + count):
        pixels[0, :3] = [[index % 256, (index >> 8) % 256, (index >> 16) % 256]] * 3
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
        tiles.append(buffer.getvalue())
    return tiles


def upload_bulk(target: Target, base: bytes, n: int) -> str:
    """Upload n distinct images as one bulk job, a few hundred a request; return its ID."""
    with httpx.Client(base_url=target.url, headers=target.headers, timeout=300) as client:
        job_id = ""
        for start in range(0, n, REQUEST_IMAGES):
            chunk = distinct_tiles(base, start, min(REQUEST_IMAGES, n - start))
            files = [("files", (f"bulk/{start + i}.png", data)) for i, data in enumerate(chunk)]
            if not job_id:
                data = {"priority": "bulk", "close": "false"}
                answer = client.post("/v1/jobs", files=files, data=data)
                job_id = answer.raise_for_status().json()["job_id"]
            else:
                client.post(f"/v1/jobs/{job_id}/items", files=files).raise_for_status()
        client.post(f"/v1/jobs/{job_id}/close").raise_for_status()
    return job_id


def predict_load(target: Target, image: bytes, connections: int, seconds: float) -> LoadResult:
    """Drive /predict from `connections` closed-loop clients (wrk when installed)."""
    if wrk_available():
        return run_wrk_predict(target, image, connections, seconds)
    return run_clients("predict", target, [image], connections, seconds, processes=1)


def job_counts(target: Target, job_id: str) -> dict[str, int]:
    """Return a job's item counts by status."""
    answer = httpx.get(f"{target.url}/v1/jobs/{job_id}", headers=target.headers, timeout=60)
    counts: dict[str, int] = answer.raise_for_status().json()["counts"]
    return counts


def interactive_timings(database_url: str, since: datetime) -> dict[str, dict[str, float]]:
    """Return p50/p95 of queue and total ms of interactive results written since `since`."""
    from sqlalchemy import func, select

    from db.models import Item, Result
    from db.session import get_session

    timings: dict[str, dict[str, float]] = {}
    with get_session(database_url) as session:
        for name, column in (("queue", Result.queue_ms), ("total", Result.total_ms)):
            row = session.execute(
                select(
                    func.percentile_cont(0.5).within_group(column),
                    func.percentile_cont(0.95).within_group(column),
                )
                .join(Item, Item.id == Result.item_id)
                .where(Item.priority == 0, Result.created_at >= since)
            ).one()
            timings[name] = {"p50": round(row[0] or 0, 1), "p95": round(row[1] or 0, 1)}
    return timings


def settle(database_url: str, timeout: float = 60.0) -> None:
    """Wait until the calls a load left in flight are done (queued or running items)."""
    from sqlalchemy import func, select

    from db.models import Item, ItemStatus
    from db.session import get_session

    unfinished = [ItemStatus.QUEUED, ItemStatus.RUNNING]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with get_session(database_url) as session:
            if not session.scalar(select(func.count()).where(Item.status.in_(unfinished))):
                return
        time.sleep(0.5)


def measure_priority(
    stack: Stack, target: Target, base: bytes, bulk_images: int, seconds: float, connections: int
) -> PriorityResult:
    """Measure /predict idle, then while a bulk backlog drains; cancel the rest after."""
    result = PriorityResult(bulk_images, connections)
    idle = predict_load(target, base, connections, seconds)
    result.idle_ms, result.idle_statuses = idle.percentiles_ms, idle.statuses
    worker = stack.workers[0]
    worker.send_signal(signal.SIGSTOP)
    started = time.monotonic()
    try:
        job_id = upload_bulk(target, base, bulk_images)
    finally:
        worker.send_signal(signal.SIGCONT)
    result.upload_seconds = round(time.monotonic() - started, 1)
    busy_since = datetime.now(UTC)
    busy = predict_load(target, base, connections, seconds)
    timings = interactive_timings(stack.env["INFERQ_DATABASE_URL"], busy_since)
    result.busy_queue_ms, result.busy_total_ms = timings["queue"], timings["total"]
    result.busy_ms, result.busy_statuses = busy.percentiles_ms, busy.statuses
    counts = job_counts(target, job_id)
    result.bulk_done_in_window = counts["succeeded"] + counts["failed"]
    result.bulk_queued_after = counts["queued"]
    httpx.delete(f"{target.url}/v1/jobs/{job_id}", headers=target.headers, timeout=60)
    wait_final(target, job_id)
    result.idle_after_ms = predict_load(target, base, connections, seconds).percentiles_ms
    settle(stack.env["INFERQ_DATABASE_URL"])
    idle_p95 = [ms["p95"] for ms in (result.idle_ms, result.idle_after_ms) if ms.get("p95")]
    if idle_p95 and busy.percentiles_ms.get("p95"):
        # Against the mean of the idle windows before and after: other load on the machine
        # drifts during a run, and one idle window would carry all of that drift.
        idle_mean = sum(idle_p95) / len(idle_p95)
        result.p95_ratio = round(busy.percentiles_ms["p95"] / idle_mean, 2)
    report(result)
    return result


def report(result: PriorityResult) -> None:
    """Print the figure and whether the bulk job really ran throughout the window."""
    console.print(
        f"  predict during a {result.bulk_images}-image bulk job: p95 "
        f"{result.busy_ms.get('p95')} ms vs idle {result.idle_ms.get('p95')} ms before and "
        f"{result.idle_after_ms.get('p95')} ms after, ratio "
        f"{result.p95_ratio} (aim <= 2); bulk uploaded in {result.upload_seconds} s, "
        f"{result.bulk_done_in_window} classified in the window, "
        f"{result.bulk_queued_after} still queued after it; in the worker (result rows): "
        f"queued {result.busy_queue_ms} ms, upload to result {result.busy_total_ms} ms"
    )
    if result.bulk_queued_after == 0:
        console.print("  [yellow]the bulk job finished inside the window: the figure is low")
