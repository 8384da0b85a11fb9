"""A real worker on PostgreSQL and Redis takes an interactive job queued after a bulk one
in its first batch: its wake-up is consumed first and its item claimed first."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from sqlalchemy import func, select

from cli.stack import Stack, free_port
from db.migrate import upgrade
from db.models import Result
from db.session import get_session
from tests.integration.conftest import stack_environment, tile_bytes, wait_for_job


def first_result_at(database_url: str, job_id: str) -> tuple[object, object]:
    """Return when the job's first and last results were written."""
    with get_session(database_url) as session:
        row = session.execute(
            select(func.min(Result.created_at), func.max(Result.created_at)).where(
                Result.job_id == uuid.UUID(job_id)
            )
        ).one()
    return row[0], row[1]


def test_an_interactive_job_queued_behind_bulk_work_runs_in_the_first_batch(
    tmp_path: Path, postgres_url: str, redis_url: str, model_dir: Path
) -> None:
    env = stack_environment(tmp_path, postgres_url, redis_url, model_dir)
    upgrade(postgres_url)
    stack = Stack(url=f"http://127.0.0.1:{free_port()}", env=env, log_dir=tmp_path)
    stack.start_gateway()
    try:
        stack.wait_ready()
        with httpx.Client(base_url=stack.url, timeout=60) as client:
            files = [("files", (f"b{i}.png", tile_bytes(i))) for i in range(96)]
            bulk = client.post("/v1/jobs", files=files, data={"priority": "bulk"}).json()
            urgent = client.post(
                "/v1/jobs", files=[("files", ("u.png", tile_bytes(500)))]
            ).json()  # one image: interactive by size
            assert (bulk["priority"], urgent["priority"]) == ("bulk", "interactive")
            stack.start_worker()  # both wait queued: 12 bulk wake-ups, then 1 interactive
            assert wait_for_job(client, urgent["job_id"])["status"] == "succeeded"
            assert wait_for_job(client, bulk["job_id"])["status"] == "succeeded"
    finally:
        stack.stop()
    urgent_done, _ = first_result_at(postgres_url, urgent["job_id"])
    bulk_first, bulk_last = first_result_at(postgres_url, bulk["job_id"])
    assert urgent_done <= bulk_first < bulk_last  # type: ignore[operator]
