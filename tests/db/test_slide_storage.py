"""What one 50,000-tile slide costs PostgreSQL: rows, bytes, time to record and read back."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sqlalchemy import text

from db.jobs import create_job
from db.migrate import upgrade
from db.session import get_session
from db.slide_blocks import claim_block, record_block
from db.slides import NewSlide, Tiling, add_slides, claim_slide, read_slide_tiles, store_tiling

TILES = 50_000
BLOCK = 256
TABLES = ("jobs", "items", "results", "slides", "slide_blocks")

pytestmark = pytest.mark.services


def table_figures(url: str) -> dict[str, tuple[int, int]]:
    """Return rows and total bytes (heap, indexes, TOAST) of each slide-related table."""
    with get_session(url) as session:
        session.execute(text("ANALYZE"))
        return {
            name: (
                int(session.scalar(text(f"SELECT count(*) FROM {name}")) or 0),
                int(session.scalar(text(f"SELECT pg_total_relation_size('{name}')")) or 0),
            )
            for name in TABLES
        }


def test_a_50000_tile_slide_is_a_few_hundred_rows(postgres_url: str) -> None:
    upgrade(postgres_url)
    before = table_figures(postgres_url)
    rng = np.random.default_rng(0)
    corners = np.stack(np.meshgrid(np.arange(250) * 96, np.arange(200) * 96), -1).reshape(-1, 2)
    with get_session(postgres_url) as session:
        job, _ = create_job([], session=session)
        (slide_id,) = add_slides(job, [NewSlide("/scans/s.svs", "s.svs")], session=session)
    with get_session(postgres_url) as session:
        slide = claim_slide(
            slide_id, session=session, worker_id="w", lease_seconds=60, max_attempts=3
        )
        assert slide is not None
        tiling = Tiling(24_000, 19_200, 0.5, 96, 0, 96, "0" * 64, 400.0)
        assert store_tiling(slide, tiling, corners.astype(np.int32), BLOCK, session=session) == 196
    started = time.perf_counter()
    completed = False
    while True:
        with get_session(postgres_url) as session:
            block = claim_block(session=session, worker_id="w", lease_seconds=60, max_attempts=3)
            if block is None:
                break
            scores = rng.random((len(block.corners), 1), dtype=np.float32)
            probabilities = np.hstack([1 - scores, scores])
            _, completed = record_block(block, probabilities, session=session, worker_id="w")
    record_s = time.perf_counter() - started
    assert completed
    started = time.perf_counter()
    with get_session(postgres_url) as session:
        read_corners, read_probabilities = read_slide_tiles(slide_id, 2, session=session)
    read_s = time.perf_counter() - started
    assert read_corners.shape == (TILES, 2) and read_probabilities.shape == (TILES, 2)
    after = table_figures(postgres_url)
    rows = {name: after[name][0] - before[name][0] for name in TABLES}
    added = {name: after[name][1] - before[name][1] for name in TABLES}
    print(
        f"\n50,000-tile slide: rows {rows}, bytes {added} (total {sum(added.values()):,}); "
        f"claim+record 196 blocks {record_s:.2f} s, read back {read_s:.3f} s"
    )
    assert rows["slide_blocks"] == 196 and rows["slides"] == 1 and rows["items"] == 1
    assert after["slide_blocks"][1] < 4 * 2**20
