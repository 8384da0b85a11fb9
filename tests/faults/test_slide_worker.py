"""A worker killed with SIGKILL mid-slide: the other worker takes its block over once the
lease expires, and every tile of the slide has exactly one recorded probability."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import create_engine, text

from tests.faults.probes import running_stack, start_worker, wait_healthy
from training.slides import SlideSpec, write_slide

SPEC = SlideSpec(1600, 1200, [(800, 600, 600, 450)], [(500, 400, 900, 800)], seed=5)


def block_states(database_url: str) -> list[tuple[int, str, str | None, int, bytes | None]]:
    """Return every slide block: index, status, worker, attempts, probabilities."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT index, status, worker_id, attempts, probabilities FROM slide_blocks"
                    " ORDER BY index"
                )
            )
            return [tuple(row) for row in rows]  # type: ignore[misc]
    finally:
        engine.dispose()


def test_kill_9_mid_slide_records_every_tile_once(
    tmp_path: Path,
    postgres_url: str,
    redis_server,
    slow_model_dir: Path,  # type: ignore[no-untyped-def]
) -> None:
    scans = tmp_path / "scans"
    scans.mkdir()
    slide = write_slide(scans / "slide.tiff", SPEC)
    env = {
        "INFERQ_SLIDE_SOURCES": json.dumps({"default": [str(scans)]}),
        "INFERQ_SLIDE_BLOCK_TILES": "16",
        "INFERQ_SLIDE_THUMBNAIL_PX": "600",
        # A lease must outlast a block's model run: on a slow 2-core machine a block of this
        # model takes 4 s with both workers running, too close to the suite's 6 s.
        "INFERQ_LEASE_SECONDS": "20",
    }
    with running_stack(tmp_path, postgres_url, redis_server.url, slow_model_dir, **env) as stack:
        (victim, port), (_, other) = start_worker(stack), start_worker(stack)
        wait_healthy([port, other])  # both start together: one start-up wait, not two
        response = httpx.post(
            f"{stack.url}/v1/jobs/slides", json={"slides": [{"url": str(slide)}]}, timeout=30
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        deadline = time.monotonic() + 120
        while True:  # kill it while it holds a block, after it recorded at least one
            blocks = block_states(postgres_url)
            done = sum(1 for b in blocks if b[1] == "succeeded")
            if done >= 1 and any(b[1] == "running" and b[2] == "worker-0" for b in blocks):
                break
            assert time.monotonic() < deadline, f"worker-0 never held a block: {blocks}"
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        lost = [
            b[0] for b in block_states(postgres_url) if b[2] == "worker-0" and b[1] == "running"
        ]
        deadline = time.monotonic() + 240
        while (job := httpx.get(f"{stack.url}/v1/jobs/{job_id}").json())["status"] != "succeeded":
            assert time.monotonic() < deadline, job
            time.sleep(0.5)
        view = httpx.get(f"{stack.url}/v1/jobs/{job_id}/slides").json()["slides"][0]
        rows = httpx.get(f"{stack.url}{view['links']['tiles_csv']}").text.splitlines()[1:]
    blocks = block_states(postgres_url)
    assert lost and all(blocks[i][3] == 2 and blocks[i][2] == "worker-1" for i in lost)
    assert all(b[1] == "succeeded" and b[4] is not None for b in blocks)
    recorded = sum(len(np.frombuffer(b[4], dtype="<f2")) // 2 for b in blocks if b[4])
    corners = {tuple(row.split(",")[:2]) for row in rows}
    assert recorded == view["n_tiles"] == len(rows) == len(corners)
    assert view["blocks_done"] == view["n_blocks"] == len(blocks)
