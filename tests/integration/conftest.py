"""Real processes: a uvicorn gateway and Celery workers started as the CLI starts them."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from cli.stack import Stack, free_port
from db.migrate import upgrade

FINAL = {"succeeded", "partially_failed", "failed", "cancelled"}


def tile_bytes(seed: int, size: int = 96) -> bytes:
    """Return a random RGB PNG tile."""
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def wait_for_job(client: httpx.Client, job_id: str, timeout: float = 120.0) -> dict:  # type: ignore[type-arg]
    """Poll a job until it reaches a final status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in FINAL:
            return job  # type: ignore[no-any-return]
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} not finished in {timeout} s: {job}")


def stack_environment(
    tmp_path: Path, database_url: str, broker_url: str, model_dir: Path
) -> dict[str, str]:
    """Environment for gateway and workers: fast sweeps and short leases for the tests.

    These suites are about delivery, so keys and backpressure are off here (explicitly, as
    only the demo does otherwise); test_access_stack.py runs the real stack with them on.
    """
    return {
        **os.environ,
        "INFERQ_AUTH_ENABLED": "false",
        "INFERQ_RATE_LIMIT_PER_MINUTE": "0",
        "INFERQ_MAX_UNFINISHED_ITEMS_PER_TENANT": "0",
        "INFERQ_DATA_DIR": str(tmp_path / "data"),
        "INFERQ_DATABASE_URL": database_url,
        "INFERQ_BROKER_URL": broker_url,
        "INFERQ_MODEL_URI": str(model_dir),
        "INFERQ_MAX_BATCH_SIZE": "8",
        "INFERQ_LEASE_SECONDS": "6",
        "INFERQ_SWEEP_INTERVAL_SECONDS": "1",
        "INFERQ_STALE_QUEUED_SECONDS": "4",
        "INFERQ_PREDICT_TIMEOUT_SECONDS": "20",
        "INFERQ_LOG_JSON": "false",
    }


@contextmanager
def gateway_and_worker(
    env: dict[str, str], log_dir: Path, *, workers_ready: bool = False
) -> Iterator[Stack]:
    """Start a gateway and one worker (waiting for its model if asked); stop them after."""
    stack = Stack(url=f"http://127.0.0.1:{free_port()}", env=env, log_dir=log_dir)
    stack.start_gateway()
    stack.start_worker()
    try:
        stack.wait_ready()
        if workers_ready:
            stack.wait_workers_ready()
        yield stack
    finally:
        stack.stop()


@contextmanager
def migrated_stack(
    tmp_path: Path, postgres_url: str, redis_url: str, model_dir: Path, *, workers_ready: bool
) -> Iterator[Stack]:
    """Migrate the database, then start a gateway and one worker serving `model_dir`."""
    env = stack_environment(tmp_path, postgres_url, redis_url, model_dir)
    upgrade(postgres_url)
    with gateway_and_worker(env, tmp_path, workers_ready=workers_ready) as stack:
        yield stack


@pytest.fixture
def real_stack(
    tmp_path: Path, postgres_url: str, redis_url: str, model_dir: Path
) -> Iterator[Stack]:
    """Gateway and one worker on the real PostgreSQL and Redis."""
    with migrated_stack(tmp_path, postgres_url, redis_url, model_dir, workers_ready=False) as stack:
        yield stack
