"""Server faults on one stack: Redis flushed, Redis restarted empty, PostgreSQL restarted,
Redis down at submit. PostgreSQL is the truth, so every item still gets exactly one result.

The tests share a gateway and one worker (a worker start costs ~20 s) and run in order; the
last one also shows that the sweeper thread survived the PostgreSQL restart.
"""

from __future__ import annotations

import time

import httpx
import redis

from core.tasks import INFERENCE_QUEUE
from tests.faults.conftest import Infrastructure
from tests.faults.probes import submit, summarize, tiles

N_ITEMS = 160  # 40 tasks of 4: the worker is far from done when the fault strikes


def assert_exactly_once(infra: Infrastructure, job_id: str, count: int, timeout: float) -> float:
    """Wait for the job; check every item succeeded with one result; return the seconds."""
    started = time.monotonic()
    items = infra.probe.wait_done(job_id, timeout=timeout)
    elapsed = time.monotonic() - started
    assert summarize(items) == {"succeeded": count}
    assert infra.probe.result_counts(job_id) == (count, count)
    assert infra.stack.workers[0].poll() is None, "the worker died"
    return elapsed


def sent_wake_ups(client: redis.Redis, timeout: float = 30.0) -> int:
    """Wait until the gateway's publisher has sent the job's wake-ups (it sends them after
    the 202, on its own thread, and imports Celery for its first): the queue has grown and
    stopped growing. Return how many wait there."""
    deadline = time.monotonic() + timeout
    waiting = 0
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = int(client.llen(INFERENCE_QUEUE))
        if 0 < now <= waiting:
            return now
        waiting = max(waiting, now)
    return waiting


def readiness(infra: Infrastructure) -> httpx.Response:
    """Ask the gateway whether it is ready."""
    return httpx.get(f"{infra.stack.url}/readyz", timeout=30)


def test_redis_flushed_during_a_job(infrastructure: Infrastructure) -> None:
    job_id, _ = submit(infrastructure.stack.url, tiles(N_ITEMS, "flush/", seed=1000))
    client = infrastructure.redis.client()
    waiting = sent_wake_ups(client)
    client.flushdb()
    client.close()
    assert waiting > 0, "the worker took every task before the flush: nothing was at risk"
    seconds = assert_exactly_once(infrastructure, job_id, N_ITEMS, timeout=120)
    republished = infrastructure.probe.republished(job_id)
    print(
        f"\nflush: {waiting} tasks lost, {republished} items republished, done in {seconds:.1f} s"
    )
    assert republished > 0


def test_redis_restarted_empty_during_a_job(infrastructure: Infrastructure) -> None:
    job_id, _ = submit(infrastructure.stack.url, tiles(N_ITEMS, "restart/", seed=2000))
    infrastructure.redis.stop()
    time.sleep(1)
    infrastructure.redis.start()
    seconds = assert_exactly_once(infrastructure, job_id, N_ITEMS, timeout=120)
    republished = infrastructure.probe.republished(job_id)
    print(f"\nredis restart: {republished} items republished, done in {seconds:.1f} s")
    assert republished > 0
    assert readiness(infrastructure).status_code == 200


def test_postgres_restarted_during_a_job(infrastructure: Infrastructure) -> None:
    # /predict's connections on the event loop (db.loop_sql) are open and idle when the
    # server goes: the restart kills them.
    assert predict(infrastructure, seed=5000).status_code == 200
    job_id, _ = submit(infrastructure.stack.url, tiles(N_ITEMS, "pg/", seed=3000))
    infrastructure.postgres.stop()
    try:
        down = readiness(infrastructure)
        assert down.status_code == 503, down.text
        assert down.json()["checks"]["database"].startswith("unreachable")
        refused = predict(infrastructure, seed=5001)
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"] and "unreachable" in refused.json()["detail"]
        time.sleep(3)  # long enough for tasks to fail on the database and be retried
    finally:
        infrastructure.postgres.start()
    seconds = assert_exactly_once(infrastructure, job_id, N_ITEMS, timeout=150)
    print(f"\npostgres restart: done {seconds:.1f} s after the server came back")
    assert readiness(infrastructure).status_code == 200
    # At most the first call meets a dead connection: that failure has the pool check
    # the others before it answers.
    answers = [predict(infrastructure, seed=5002 + attempt).status_code for attempt in range(3)]
    assert answers[0] in {200, 503} and answers[1:] == [200, 200], answers


def predict(infra: Infrastructure, seed: int) -> httpx.Response:
    """Send one tile to /predict."""
    files = {"file": ("one.png", tiles(1, "p/", seed=seed)[0][1][1])}
    return httpx.post(f"{infra.stack.url}/predict", files=files, timeout=60)


def test_redis_down_at_submit(infrastructure: Infrastructure) -> None:
    infrastructure.redis.stop()
    try:
        job_id, seconds = submit(infrastructure.stack.url, tiles(12, "down/", seed=4000))
        down = readiness(infrastructure)
        assert down.status_code == 503, down.text
        assert down.json()["checks"]["broker"].startswith("unreachable")
        assert summarize(infrastructure.probe.items(job_id)) == {"queued": 12}
    finally:
        infrastructure.redis.start()
    print(f"\nredis down: 202 in {seconds:.2f} s")
    assert seconds < 5
    done = assert_exactly_once(infrastructure, job_id, 12, timeout=120)
    print(f"redis down: done {done:.1f} s after the server came back")
    assert readiness(infrastructure).status_code == 200
