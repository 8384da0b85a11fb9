"""Batches formed across jobs under faults: a worker killed while its batch spans many
one-image jobs, and two workers competing for the same queued items. Every image still gets
exactly one result, and no image is run twice while its claim holds."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import redis

from core.drain_mark import mark_key
from core.priority import consumed_queues
from core.settings import Settings
from tests.faults.probes import Probe, running_stack, start_worker, submit, tiles, wait_healthy
from tests.faults.servers import RedisServer
from tests.faults.test_workers import LEASE, SWEEP, slow_png


def submit_singles(url: str, files: list[tuple[str, tuple[str, bytes]]]) -> list[str]:
    """Submit each file as its own job from 16 concurrent clients; return the job IDs."""
    with ThreadPoolExecutor(16) as pool:
        return [job_id for job_id, _ in pool.map(lambda part: submit(url, [part]), files)]


def wait_all_done(probe: Probe, count: int, timeout: float) -> dict[str, int]:
    """Wait until `count` items exist and none is queued or running; count them by status."""
    deadline = time.monotonic() + timeout
    while True:
        items = [item for _, item in probe.all_items()]
        if len(items) == count and all(i.status not in ("queued", "running") for i in items):
            counts: dict[str, int] = {}
            for item in items:
                counts[item.status] = counts.get(item.status, 0) + 1
            return counts
        assert time.monotonic() < deadline, f"{len(items)} items, not all done in {timeout} s"
        time.sleep(0.2)


def worker_images(port: int) -> int:
    """Return how many images a worker ran the model on."""
    return int(httpx.get(f"http://127.0.0.1:{port}/", timeout=5).json()["items"])


def test_kill_9_during_a_cross_job_batch_loses_nothing(
    tmp_path: Path, postgres_url: str, redis_server: RedisServer, model_dir: Path
) -> None:
    probe = Probe(postgres_url)
    with running_stack(
        tmp_path, postgres_url, redis_server.url, model_dir, INFERQ_MAX_BATCH_SIZE="8"
    ) as stack:
        (victim, victim_port), (_, other_port) = start_worker(stack), start_worker(stack)
        wait_healthy([victim_port, other_port])
        files = tiles(120, "single/")
        for n in range(8):  # slow to decode, so a batch holding one is surely killed mid-way
            files.insert(15 * n + 7, ("files", (f"slow{n}.png", slow_png(seed=n))))
        submit_singles(stack.url, files)
        deadline = time.monotonic() + 90
        while True:
            held = [
                (job_id, item)
                for job_id, item in probe.all_items()
                if item.status == "running" and item.worker_id == "worker-0"
            ]
            if len({job_id for job_id, _ in held}) >= 2 and any(
                item.filename.startswith("slow") for _, item in held
            ):
                break
            assert time.monotonic() < deadline, "worker-0 never held a cross-job batch"
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        lost = {
            item.id
            for _, item in probe.all_items()
            if item.status == "running" and item.worker_id == "worker-0"
        }
        counts = wait_all_done(probe, len(files), timeout=LEASE + SWEEP + 120)
        retried = [item for _, item in probe.all_items() if item.id in lost]
    print(f"\ncross-job kill -9: {len(lost)} items of several jobs lost, then {counts}")
    assert len(lost) >= 2 and all(i.status == "succeeded" and i.attempts == 2 for i in retried)
    assert counts == {"succeeded": len(files)}
    assert probe.total_results() == (len(files), len(files))
    probe.dispose()


def test_two_workers_competing_for_queued_items_take_each_once(
    tmp_path: Path, postgres_url: str, redis_server: RedisServer, model_dir: Path
) -> None:
    probe = Probe(postgres_url)
    with running_stack(
        tmp_path, postgres_url, redis_server.url, model_dir, INFERQ_MAX_BATCH_SIZE="8"
    ) as stack:
        ports = [start_worker(stack)[1], start_worker(stack)[1]]
        wait_healthy(ports)
        files = tiles(200, "race/", seed=500)
        submit_singles(stack.url, files)
        counts = wait_all_done(probe, len(files), timeout=120)
        ran = [worker_images(port) for port in ports]
        attempts = {item.attempts for _, item in probe.all_items()}
    print(f"\ntwo workers, 200 one-image jobs: images run per worker {ran}")
    assert counts == {"succeeded": 200}
    assert sum(ran) == 200  # no image ran twice: a claim keeps the other worker off it
    assert attempts == {1}
    assert probe.total_results() == (200, 200)
    probe.dispose()


def test_kill_9_while_the_drain_mark_is_held_strands_no_item(
    tmp_path: Path, postgres_url: str, redis_server: RedisServer, model_dir: Path
) -> None:
    probe = Probe(postgres_url)
    mark = mark_key(Settings(database_url=postgres_url, _env_file=None).resolved_database_url)  # type: ignore[call-arg]
    client = redis.Redis.from_url(redis_server.url)
    with running_stack(
        tmp_path, postgres_url, redis_server.url, model_dir, INFERQ_MAX_BATCH_SIZE="8"
    ) as stack:
        victim, victim_port = start_worker(stack)
        wait_healthy([victim_port])
        slow = [("files", (f"slow{n}.png", slow_png(seed=9 + n))) for n in range(3)]
        submit(stack.url, slow)
        deadline = time.monotonic() + 60
        while client.get(mark) is None:  # it drains the slow images, with room for 5 more
            assert time.monotonic() < deadline, "the worker never held the drain mark"
            time.sleep(0.01)
        singles = tiles(4, "marked/", seed=900)
        submit_singles(stack.url, singles)  # their wake-ups are skipped: they fit its room
        waiting = sum(int(client.llen(queue)) for queue in consumed_queues())
        held = client.get(mark) is not None
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        start_worker(stack)
        counts = wait_all_done(probe, len(slow) + len(singles), timeout=LEASE + SWEEP + 90)
    print(f"\nkill -9 holding the drain mark: {waiting} wake-ups for 4 items, then {counts}")
    assert held and waiting < len(singles)
    assert counts == {"succeeded": len(slow) + len(singles)}
    assert probe.total_results() == (len(slow) + len(singles),) * 2
    probe.dispose()
