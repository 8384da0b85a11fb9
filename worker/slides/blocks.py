"""Run slide blocks: claim a block, read its tiles from the slide, run the model in
batches, record the block once, and call the slide when its last block is in."""

from __future__ import annotations

import logging
import time

import numpy as np

from db.claim_order import interactive_waiting
from db.session import get_session
from db.slide_blocks import ClaimedBlock, claim_block, finish_slide, record_block, release_block
from db.slides import fail_slide
from worker.inference import StageTimer
from worker.runtime import Runtime
from worker.slides.grid import TileGeometry
from worker.slides.reader import SlideError
from worker.slides.regions import SlideCache, read_tiles, tile_rows

logger = logging.getLogger(__name__)


def read_block(block: ClaimedBlock, runtime: Runtime, cache: SlideCache) -> np.ndarray:
    """Read a block's tiles as model input, on the decode threads."""
    slide = cache.get(block.source)
    card = runtime.served.model.card
    geometry = TileGeometry(0, 0, block.level, block.read_size)
    rows = tile_rows(block.corners)  # a row is read as one strip, on one decode thread
    resample = card.preprocessing.resample

    def read(row: np.ndarray) -> np.ndarray:
        return read_tiles(slide, geometry, block.corners[row], card.input_size, resample)

    return np.concatenate(list(runtime.decoders.map(read, rows)))


def claim_next(runtime: Runtime) -> ClaimedBlock | None:
    """Claim the oldest waiting block of any slide."""
    settings = runtime.settings
    with get_session(settings.resolved_database_url) as session:
        return claim_block(
            session=session,
            worker_id=runtime.worker_id,
            lease_seconds=settings.lease_seconds,
            max_attempts=settings.max_attempts,
        )


def run_block(block: ClaimedBlock, runtime: Runtime, cache: SlideCache) -> bool:
    """Read, classify and record one block; return whether it was recorded."""
    timer = StageTimer()
    url = runtime.settings.resolved_database_url
    served = runtime.served
    try:
        with timer("read"):
            tiles = read_block(block, runtime, cache)
    except SlideError as exc:
        cache.forget(block.source)
        with get_session(url) as session:
            fail_slide(block.slide_id, str(exc), session=session)
        return False
    with timer("model"):
        probabilities, _ = served.model.predict(tiles)
    with timer("write"), get_session(url) as session:
        recorded, completed = record_block(
            block, probabilities, session=session, worker_id=runtime.worker_id
        )
        if completed:
            card, model_id = served.model.card, served.model_id
            finish_slide(
                block.slide_id, card, model_id, session=session, worker_id=runtime.worker_id
            )
    if completed:
        cache.forget(block.source)
    runtime.metrics.observe_batch(len(tiles), timer.stages, [], 0)
    logger.info(
        "slide block %s/%d: %d tiles", block.slide_id, block.index, len(tiles),
        extra={"stages_ms": timer.stages, "job_ids": [str(block.job_id)]},
    )  # fmt: skip
    return recorded


def interactive_work_waits(runtime: Runtime) -> bool:
    """Return whether interactive items are queued, which a block runner steps aside for."""
    with get_session(runtime.settings.resolved_database_url) as session:
        return interactive_waiting(session=session)


def run_blocks(runtime: Runtime, cache: SlideCache, max_seconds: float) -> tuple[int, bool]:
    """Run waiting blocks of any slide until none waits, time is up, the worker stops or
    interactive items wait; return the blocks recorded and whether blocks may still wait."""
    deadline = time.monotonic() + max_seconds
    done = 0
    while time.monotonic() < deadline and not runtime.stopping.is_set():
        if done and interactive_work_waits(runtime):
            return done, True  # one block (under a second) is the most /predict waits for
        block = claim_next(runtime)
        if block is None:
            return done, False
        try:
            done += run_block(block, runtime, cache)
        except BaseException:
            with get_session(runtime.settings.resolved_database_url) as session:
                release_block(block, session=session, worker_id=runtime.worker_id)
            raise
    return done, True
