"""`GET /v1/jobs/{id}` on PostgreSQL reads on the event loop (db.loop_sql) and answers what
the sessions' path answers: the same view, slide progress included, and the same 404."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from db.jobs import create_job
from db.session import get_session
from db.slide_blocks import claim_block, record_block
from db.slides import NewSlide, Tiling, add_slides, claim_slide, store_tiling
from tests.gateway.conftest import api_client, limited_settings, png_bytes


def slide_job(url: str) -> uuid.UUID:
    """A job with one tiled slide, one of whose two blocks is recorded."""
    with get_session(url) as session:
        job, _ = create_job([], session=session, tenant="lab")
        (slide_id,) = add_slides(job, [NewSlide("/scans/s.svs", "s.svs")], session=session)
    with get_session(url) as session:
        slide = claim_slide(
            slide_id, session=session, worker_id="w", lease_seconds=60, max_attempts=3
        )
        assert slide is not None
        corners = np.zeros((6, 2), dtype=np.int32)
        tiling = Tiling(960, 960, 0.5, 96, 0, 96, "0" * 64, 400.0)
        store_tiling(slide, tiling, corners, 4, session=session)
    with get_session(url) as session:
        block = claim_block(session=session, worker_id="w", lease_seconds=60, max_attempts=3)
        assert block is not None
        probabilities = np.full((len(block.corners), 2), 0.5, dtype=np.float32)
        record_block(block, probabilities, session=session, worker_id="w")
    return job.id


def both_ways(client: TestClient, path: str) -> tuple[Any, Any]:
    """Answer `path` on the loop's path, then on the sessions' path."""
    state = client.app.state  # type: ignore[attr-defined]
    on_loop = client.get(path)
    database, state.loop_database = state.loop_database, None
    try:
        by_session = client.get(path)
    finally:
        state.loop_database = database
    return on_loop, by_session


def test_a_job_status_read_on_the_loop_is_the_sessions(tmp_path: Path, postgres_url: str) -> None:
    settings = limited_settings(tmp_path, postgres_url)
    with api_client(settings) as client, api_client(settings, "other") as other:
        queued = client.post("/v1/jobs", files=[("files", ("a.png", png_bytes(1)))]).json()
        cancelled = client.post("/v1/jobs", files=[("files", ("b.png", png_bytes(2)))]).json()
        assert client.delete(f"/v1/jobs/{cancelled['job_id']}").status_code == 200
        theirs = other.post("/v1/jobs", files=[("files", ("c.png", png_bytes(3)))]).json()
        slides = slide_job(postgres_url)
        for job_id in (queued["job_id"], cancelled["job_id"], slides):
            on_loop, by_session = both_ways(client, f"/v1/jobs/{job_id}")
            assert on_loop.status_code == 200, on_loop.text
            assert on_loop.json() == by_session.json()
        progress = client.get(f"/v1/jobs/{slides}").json()["slides"]
        assert progress == {"slides": 1, "tiles": 6, "tiles_done": 4}
        assert client.get(f"/v1/jobs/{queued['job_id']}").json()["slides"] is None
        for job_id in (theirs["job_id"], str(uuid.uuid4())):  # not the tenant's: alike 404s
            on_loop, by_session = both_ways(client, f"/v1/jobs/{job_id}")
            assert on_loop.status_code == by_session.status_code == 404
            assert on_loop.json() == by_session.json() == {"detail": f"job {job_id} not found"}
