"""A LiteRT worker for real: it serves the int8 file, names it, and never loads TensorFlow."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from cli.stack import Stack, free_port
from db.migrate import upgrade
from tests.integration.conftest import stack_environment, tile_bytes, wait_for_job

pytestmark = pytest.mark.services


def process_tree(pid: int) -> list[int]:
    """Return a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending += children.get(current, [])
    return tree


def loaded_libraries(pids: list[int]) -> str:
    """Return the memory maps of these processes, joined (the shared objects they loaded)."""
    maps = []
    for pid in pids:
        try:
            maps.append(Path(f"/proc/{pid}/maps").read_text())
        except OSError:
            continue
    return "\n".join(maps)


def test_litert_worker_serves_int8_without_tensorflow(
    tmp_path: Path, postgres_url: str, redis_url: str, quantized_model_dir: Path
) -> None:
    env = stack_environment(tmp_path, postgres_url, redis_url, quantized_model_dir)
    upgrade(postgres_url)
    stack = Stack(url=f"http://127.0.0.1:{free_port()}", env=env, log_dir=tmp_path)
    # The worker starts alone, so its time to ready is its own, not shared with the gateway's.
    started = time.monotonic()
    worker = stack.start_worker(INFERQ_RUNTIME="litert", INFERQ_LITERT_THREADS="1")
    try:
        stack.wait_workers_ready()
        ready_seconds = time.monotonic() - started
        stack.start_gateway()
        stack.wait_ready()
        with httpx.Client(base_url=stack.url, timeout=30) as client:
            model = client.get("/v1/model").json()
            assert (model["runtime"], model["precision"]) == ("litert", "int8")
            files = [("files", (f"t{i}.png", tile_bytes(i))) for i in range(5)]
            job = client.post("/v1/jobs", files=files).json()
            assert wait_for_job(client, job["job_id"])["status"] == "succeeded"
            results = client.get(f"/v1/jobs/{job['job_id']}/results").json()["items"]
            assert {result["model_id"] for result in results} == {model["id"]}
        metrics = httpx.get(stack.worker_health[0] + "metrics", timeout=10).text
        assert 'runtime="litert"' in metrics and 'precision="int8"' in metrics
        libraries = loaded_libraries(process_tree(worker.pid))
        assert "ai_edge_litert" in libraries  # the check sees the worker's libraries
        assert "tensorflow" not in libraries, "a LiteRT worker loaded TensorFlow"
        print(f"LiteRT worker ready {ready_seconds:.1f} s after start")
    finally:
        stack.stop()
