"""Worker faults: kill -9 mid-batch, a poison item that kills its process, and a broker that
redelivers a slow batch to a second worker. Every item still gets exactly one result.
"""

from __future__ import annotations

import io
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
from PIL import Image

from core.queue import make_celery, publish_items
from core.settings import Settings
from tests.faults.probes import (
    Probe,
    running_stack,
    start_worker,
    submit,
    summarize,
    tiles,
    wait_healthy,
)
from tests.faults.servers import RedisServer

LEASE, SWEEP = 6, 1  # the stack's lease and sweep interval (tests.integration.conftest)


def slow_png(side: int = 6000, seed: int = 0) -> bytes:
    """Return a PNG that takes a good part of a second to decode, so a probe sees it running."""
    pixels = np.zeros((side, side, 3), dtype=np.uint8)
    pixels[:, :, 0] = (np.arange(side, dtype=np.uint32)[None, :] + seed) % 251
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_kill_9_mid_batch_loses_nothing(
    tmp_path: Path, postgres_url: str, redis_server: RedisServer, model_dir: Path
) -> None:
    probe = Probe(postgres_url)
    env = {"INFERQ_MAX_BATCH_SIZE": "4"}
    with running_stack(tmp_path, postgres_url, redis_server.url, model_dir, **env) as stack:
        (victim, victim_port), (_, other_port) = start_worker(stack), start_worker(stack)
        wait_healthy([victim_port, other_port])
        files = tiles(400, "kill/")
        for n in range(10):  # slow to decode: a batch holding one is surely killed mid-way
            files.insert(40 * n + 20, ("files", (f"slow{n}.png", slow_png(seed=n))))
        job_id, _ = submit(stack.url, files)
        deadline = time.monotonic() + 90
        while not any(
            i.status == "running" and i.worker_id == "worker-0" and i.filename.startswith("slow")
            for i in probe.items(job_id)
        ):
            assert time.monotonic() < deadline, "worker-0 never claimed a slow batch"
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        victim.wait()
        lost = {
            i.id for i in probe.items(job_id) if i.status == "running" and i.worker_id == "worker-0"
        }
        items = probe.wait_done(job_id, timeout=120)
        recovered = time.monotonic() - killed_at
        retried = [i for i in items if i.id in lost]
    print(f"\nkill -9: {len(lost)} items lost with the worker, all done {recovered:.1f} s later")
    assert lost and all(i.status == "succeeded" and i.attempts == 2 for i in retried)
    assert summarize(items) == {"succeeded": 410}
    assert probe.result_counts(job_id) == (410, 410)
    assert recovered < LEASE + SWEEP + 20  # lease + sweep, with room for a loaded machine
    probe.dispose()


def kill_holder(
    holder: str, workers: dict[str, subprocess.Popen[bytes]]
) -> subprocess.Popen[bytes] | None:
    """SIGKILL the worker that holds the poison item; return it, or None if already gone."""
    process = workers.get(holder)
    if process is None or process.poll() is not None:
        return None
    process.send_signal(signal.SIGKILL)
    process.wait()
    return process


def test_a_poison_item_fails_alone_after_max_attempts(
    tmp_path: Path, postgres_url: str, redis_server: RedisServer, model_dir: Path
) -> None:
    probe = Probe(postgres_url)
    env = {"INFERQ_MAX_BATCH_SIZE": "4", "INFERQ_MAX_ATTEMPTS": "2"}
    with running_stack(tmp_path, postgres_url, redis_server.url, model_dir, **env) as stack:
        started = [start_worker(stack), start_worker(stack)]
        wait_healthy([port for _, port in started])
        files = tiles(40, "job/")
        files.insert(17, ("files", ("poison.png", slow_png())))
        job_id, _ = submit(stack.url, files)
        workers = {f"worker-{n}": process for n, (process, _) in enumerate(started)}
        kills, deadline = 0, time.monotonic() + 150
        while True:
            items = probe.items(job_id)
            poison = next(i for i in items if i.filename == "poison.png")
            if poison.status not in ("queued", "running"):
                break
            assert time.monotonic() < deadline, f"poison item still {poison.status}"
            running = poison.status == "running" and poison.worker_id is not None
            if running and kills < 2 and kill_holder(str(poison.worker_id), workers):
                kills += 1  # the poison killed its process
                if kills < 2:  # a supervisor starts another; the survivor covers the last
                    name = f"worker-{len(stack.workers)}"  # the name start_worker gives it
                    workers[name] = stack.start_worker()
            time.sleep(0.02)
        items = probe.wait_done(job_id, timeout=120)
    others = [i for i in items if i.filename != "poison.png"]
    print(f"\npoison: {kills} kills, poison {poison.status}: {poison.error}")
    assert kills == 2
    assert poison.status == "failed" and poison.attempts == 2
    assert poison.error and poison.error.startswith("gave up after 2 attempts")
    assert summarize(others) == {"succeeded": 40}
    assert probe.result_counts(job_id) == (40, 40)
    probe.dispose()


def test_a_short_visibility_timeout_never_duplicates_results(
    tmp_path: Path, postgres_url: str, redis_server: RedisServer, slow_model_dir: Path
) -> None:
    probe = Probe(postgres_url)
    env = {
        "INFERQ_MAX_BATCH_SIZE": "16",
        "INFERQ_VISIBILITY_TIMEOUT_SECONDS": "1",  # far shorter than a batch
        "INFERQ_LEASE_SECONDS": "120",  # the lease, not the broker, decides who works
        "INFERQ_STALE_QUEUED_SECONDS": "600",
    }
    with running_stack(tmp_path, postgres_url, redis_server.url, slow_model_dir, **env) as stack:
        wait_healthy([start_worker(stack)[1], start_worker(stack)[1]])
        job_id, _ = submit(stack.url, tiles(16, "slow/"))  # one task: one worker runs it
        deadline = time.monotonic() + 60
        while not (running := [i for i in probe.items(job_id) if i.status == "running"]):
            assert time.monotonic() < deadline, "no worker claimed the batch"
            time.sleep(0.02)
        # What Redis does once the visibility timeout passes (kombu scans for overdue
        # messages only every few idle cycles, too rarely to wait for): deliver it again.
        publisher = make_celery(Settings(broker_url=redis_server.url, _env_file=None))  # type: ignore[call-arg]
        publish_items(publisher, [i.id for i in running], 16)
        items = probe.wait_done(job_id, timeout=120)
    received = [
        log.name
        for log in tmp_path.glob("worker-*.log")
        for line in log.read_text().splitlines()
        if "infer_items[" in line and line.endswith("received")
    ]
    print(f"\nduplicate delivery: {len(received)} deliveries of 1 task, {summarize(items)}")
    assert len(set(received)) == 2  # each worker got a copy while the first one ran
    assert summarize(items) == {"succeeded": 16}
    assert all(item.attempts == 1 for item in items)  # the lease kept the copy off the items
    assert probe.result_counts(job_id) == (16, 16)
    probe.dispose()
