"""A real worker classifies huge 16-bit images without its memory blowing up.

A 9400 x 9400 16-bit grey PNG is under the pixel limit and compresses to under a MB. The
worker used to convert it to float64 at full size: +1.9 GiB for one image (from 715 MB to
2.69 GB in the attack run). Now it costs the decoded 16-bit pixels (169 MiB), and the decode
budget lets two such images decode one after the other, never side by side.
"""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from db.migrate import upgrade
from tests.integration.conftest import (
    gateway_and_worker,
    stack_environment,
    tile_bytes,
    wait_for_job,
)

SIDE = 9400
MIB = 2**20


def huge_16_bit_png(offset: int) -> bytes:
    """Return a SIDE x SIDE 16-bit grey gradient PNG; `offset` makes each one distinct."""
    row = np.linspace(offset, 65535, SIDE).astype(np.uint16)
    image = Image.fromarray(np.ascontiguousarray(np.broadcast_to(row, (SIDE, SIDE))))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def memory(pid: int, field: str) -> int:
    """Return a process's VmRSS or VmHWM (its peak resident size) in bytes."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return int(next(line.split()[1] for line in status if line.startswith(field))) * 1024


def test_huge_16_bit_images_decode_within_the_budget(
    tmp_path: Path, postgres_url: str, redis_url: str, model_dir: Path
) -> None:
    env = stack_environment(tmp_path, postgres_url, redis_url, model_dir)
    # Two decode threads, and a budget that holds one such image (169 MiB of pixels) only.
    env |= {"INFERQ_DECODE_THREADS": "2", "INFERQ_MAX_DECODE_BYTES": str(250 * MIB)}
    upgrade(postgres_url)
    images = [huge_16_bit_png(offset) for offset in (0, 1000)]
    with gateway_and_worker(env, tmp_path, workers_ready=True) as stack:
        pid = stack.workers[0].pid
        with httpx.Client(base_url=stack.url, timeout=60) as client:
            warm = client.post("/v1/jobs", files=[("files", ("warm.png", tile_bytes(1)))])
            assert wait_for_job(client, warm.json()["job_id"])["status"] == "succeeded"
            resident = memory(pid, "VmRSS:")
            files = [("files", (f"huge{i}.png", data)) for i, data in enumerate(images)]
            accepted = client.post("/v1/jobs", files=files)
            assert accepted.status_code == 202, accepted.text
            job = wait_for_job(client, accepted.json()["job_id"])
            items = client.get(accepted.json()["links"]["results"]).json()["items"]
        growth = memory(pid, "VmHWM:") - resident
    assert job["status"] == "succeeded", [item["error"] for item in items]
    assert {item["label"] for item in items} <= {"benign", "malignant"}
    # One image's pixels and its blob, with room for the allocator: not two, not float64.
    assert growth < 300 * MIB, f"the worker grew by {growth / MIB:.0f} MiB"
