"""SIGTERM mid-batch: the worker finishes its batch within 10 s and hands the rest back."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from cli.stack import Stack, free_port
from db.models import Result
from db.session import get_session
from tests.integration.conftest import stack_environment, tile_bytes, wait_for_job


def test_sigterm_finishes_the_batch_and_hands_back_the_rest(
    tmp_path: Path, postgres_url: str, redis_url: str, slow_model_dir: Path
) -> None:
    env = stack_environment(tmp_path, postgres_url, redis_url, slow_model_dir)
    env.update(INFERQ_MAX_BATCH_SIZE="16", INFERQ_STALE_QUEUED_SECONDS="600")
    stack = Stack(url=f"http://127.0.0.1:{free_port()}", env=env, log_dir=tmp_path)
    stack.start_gateway()
    first = stack.start_worker()
    try:
        stack.wait_ready()
        files = [("files", (f"{i}.png", tile_bytes(i))) for i in range(32)]
        with httpx.Client(base_url=stack.url, timeout=60) as client:
            job_id = client.post("/v1/jobs", files=files).json()["job_id"]
            deadline = time.monotonic() + 120
            while client.get(f"/v1/jobs/{job_id}").json()["counts"]["running"] == 0:
                assert time.monotonic() < deadline, "the worker never claimed a batch"
                time.sleep(0.05)
            started = time.monotonic()
            first.send_signal(signal.SIGTERM)
            first.wait(30)
            assert time.monotonic() - started < 10
            counts = client.get(f"/v1/jobs/{job_id}").json()["counts"]
            assert counts["running"] == 0  # nothing left claimed by the departed worker
            assert counts["succeeded"] == 16  # the running batch finished
            assert counts["queued"] == 16  # the prefetched task went back to Redis
            stack.start_worker()
            job = wait_for_job(client, job_id, timeout=180)
            items = client.get(f"/v1/jobs/{job_id}/results", params={"limit": 100}).json()
        assert job["status"] == "succeeded"
        with get_session(postgres_url) as session:
            workers = set(session.scalars(select(Result.worker_id)))
        assert workers <= {"worker-0", "worker-1"}
        assert all(item["attempts"] == 1 for item in items["items"])  # nothing was retried
    finally:
        stack.stop()
