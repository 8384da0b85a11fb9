"""Soak: 1,000 batches through the worker's inference step; RSS must stay flat (`make soak`)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.settings import Settings
from db.jobs import NewItem, create_job
from db.session import get_session
from worker.engine import BatchEngine
from worker.model_holder import load_model
from worker.runtime import build_runtime

BATCH, WARM_UP, BATCHES = 8, 50, 1000


def rss_kib() -> int:
    """Return this process's resident set size in KiB (from /proc, no psutil needed)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def tile(seed: int) -> bytes:
    """Return a random 96 px RGB PNG."""
    pixels = np.random.default_rng(seed).integers(0, 255, (96, 96, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def run_batch(engine: BatchEngine, hashes: list[str]) -> None:
    """Queue one job of BATCH items and classify it as a task would."""
    items = [NewItem(f"{i}.png", digest, 1) for i, digest in enumerate(hashes)]
    with get_session(engine.runtime.settings.resolved_database_url) as session:
        _, ids = create_job(items, session=session)
    assert engine.serve(ids) == BATCH


@pytest.mark.soak
def test_worker_rss_stays_flat_over_1000_batches(
    tmp_path: Path, sqlite_url: str, model_dir: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url=sqlite_url,
        max_batch_size=BATCH,
        worker_id="soak",
        _env_file=None,  # type: ignore[call-arg]
    )
    runtime = build_runtime(settings, load_model(str(model_dir), max_batch_size=BATCH))
    engine = BatchEngine(runtime)
    hashes = [runtime.store.put(tile(seed)) for seed in range(BATCH * 4)]
    for n in range(WARM_UP):
        run_batch(engine, hashes[(n % 4) * BATCH : (n % 4 + 1) * BATCH])
    before = rss_kib()
    samples = []
    for n in range(BATCHES):
        run_batch(engine, hashes[(n % 4) * BATCH : (n % 4 + 1) * BATCH])
        if n % 100 == 99:
            samples.append(rss_kib())
    growth = 100.0 * (samples[-1] - before) / before
    print(
        f"\nRSS after warm-up {before / 1024:.1f} MiB, after {BATCHES} batches "
        f"{samples[-1] / 1024:.1f} MiB: {growth:+.2f}% (samples MiB: "
        f"{[round(s / 1024, 1) for s in samples]})"
    )
    assert growth < 5.0
