"""A real worker skips a cancelled job's published tasks, and its purge thread deletes images."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import redis
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli.main import app
from cli.stack import Stack, free_port
from core.storage import content_hash
from core.tasks import INFERENCE_QUEUE
from db.migrate import upgrade
from db.models import Item, Result
from db.session import get_session
from tests.integration.conftest import stack_environment, tile_bytes, wait_for_job


def age_files(root: Path) -> None:
    """Make every stored blob look written two hours ago, past the purge's grace."""
    old = time.time() - 7200
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (old, old))


def test_cancelled_published_work_is_skipped_and_its_images_purged(
    tmp_path: Path, postgres_url: str, redis_url: str, model_dir: Path
) -> None:
    env = stack_environment(tmp_path, postgres_url, redis_url, model_dir)
    env |= {"INFERQ_PURGE_INTERVAL_SECONDS": "1", "INFERQ_BLOB_RETENTION_HOURS": "0"}
    upgrade(postgres_url)
    stack = Stack(url=f"http://127.0.0.1:{free_port()}", env=env, log_dir=tmp_path)
    stack.start_gateway()
    tiles = [tile_bytes(i) for i in range(16)]
    try:
        stack.wait_ready()
        with httpx.Client(base_url=stack.url, timeout=60) as client:
            files = [("files", (f"t{i}.png", tile)) for i, tile in enumerate(tiles)]
            job_id = client.post("/v1/jobs", files=files).json()["job_id"]
            broker = redis.Redis.from_url(redis_url)
            deadline = time.monotonic() + 30  # the gateway publishes after the 202
            while broker.llen(INFERENCE_QUEUE) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            waiting = broker.llen(INFERENCE_QUEUE)
            assert waiting >= 2  # 16 items in batches of 8: the tasks sit in Redis, published
            cancelled = CliRunner().invoke(app, ["cancel", job_id, "--api", stack.url])
            assert cancelled.exit_code == 0 and "16 cancelled of 16" in cancelled.output
            age_files(tmp_path / "data" / "blobs")

            stack.start_worker()
            stack.wait_workers_ready()
            control = [("files", (f"c{i}.png", tile_bytes(100 + i))) for i in range(4)]
            control_id = client.post("/v1/jobs", files=control).json()["job_id"]
            assert wait_for_job(client, control_id)["status"] == "succeeded"
            assert redis.Redis.from_url(redis_url).llen(INFERENCE_QUEUE) == 0  # consumed

            with get_session(postgres_url) as session:
                results = session.scalar(
                    select(func.count()).select_from(Result).where(Result.job_id == job_id)
                )
                claimed = session.scalar(
                    select(func.max(Item.attempts)).where(Item.job_id == job_id)
                )
            assert results == 0 and claimed == 0  # no worker ever claimed a cancelled item

            paths = [tmp_path / "data" / "blobs" / content_hash(t)[:2] for t in tiles]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and any(
                (path / content_hash(t)[2:4] / content_hash(t)).exists()
                for path, t in zip(paths, tiles, strict=True)
            ):
                time.sleep(0.5)
            job = client.get(f"/v1/jobs/{job_id}").json()
        gone = [
            not (path / content_hash(t)[2:4] / content_hash(t)).exists()
            for path, t in zip(paths, tiles, strict=True)
        ]
        assert all(gone), f"{sum(gone)} of 16 images purged"
        assert job["status"] == "cancelled" and job["images_expire_at"] is not None
        assert job["expires_at"] > job["images_expire_at"]  # the rows stay 30 days
    finally:
        stack.stop()
