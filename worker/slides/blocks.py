"""Run slide blocks: claim a block, read its tiles from the slide, run the model in
batches, record the block once, and call the slide when its last block is in.

While the model runs one block, the next is claimed and read on the decode threads, so
the model does not wait for reading nor reading for the model. Never more than one block
is read ahead (two blocks of tiles in memory), and it is claimed only as its read starts:
a runner that stops (time up, shutdown, interactive items waiting, an error) hands the
block it read ahead back to the queue without spending an attempt, and one killed with it
leaves it to lapse like the block it was running. A block's lease starts again when its
model run starts, so the lease need only outlast one block.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from db.claim_order import interactive_waiting
from db.session import get_session
from db.slide_blocks import (
    ClaimedBlock,
    claim_block,
    finish_slide,
    record_block,
    release_block,
    renew_block,
)
from db.slides import fail_slide
from worker.inference import StageTimer
from worker.runtime import Runtime
from worker.serving import Served
from worker.slides.grid import TileGeometry
from worker.slides.reader import SlideError
from worker.slides.regions import SlideCache, read_tiles, tile_rows

logger = logging.getLogger(__name__)


@dataclass
class ReadBlock:
    """A claimed block, the model it is read for, and its tiles once read."""

    block: ClaimedBlock
    served: Served
    reading: Future[np.ndarray]
    timer: StageTimer


def read_block(
    block: ClaimedBlock, runtime: Runtime, cache: SlideCache, served: Served
) -> np.ndarray:
    """Read a block's tiles as `served`'s input, on the decode threads."""
    slide = cache.get(block.source)
    card = served.model.card
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


def start_read(runtime: Runtime, cache: SlideCache, reader: ThreadPoolExecutor) -> ReadBlock | None:
    """Claim the next block and start reading it on `reader`; None when no block waits."""
    block = claim_next(runtime)
    if block is None:
        return None
    served, timer = runtime.served, StageTimer()  # a model switch applies from the next read

    def read() -> np.ndarray:
        with timer("read"):
            return read_block(block, runtime, cache, served)

    try:
        return ReadBlock(block, served, reader.submit(read), timer)
    except BaseException:
        hand_back([block], runtime)
        raise


def hand_back(blocks: list[ClaimedBlock], runtime: Runtime) -> None:
    """Return blocks this runner claimed but did not record to the queue."""
    if blocks:
        with get_session(runtime.settings.resolved_database_url) as session:
            for block in blocks:
                release_block(block, session=session, worker_id=runtime.worker_id)


def still_held(block: ClaimedBlock, runtime: Runtime) -> bool:
    """Start the block's lease again; return False when another worker took it over."""
    settings = runtime.settings
    with get_session(settings.resolved_database_url) as session:
        return renew_block(
            block,
            session=session,
            worker_id=runtime.worker_id,
            lease_seconds=settings.lease_seconds,
        )


def run_block(read: ReadBlock, runtime: Runtime, cache: SlideCache, tiles: np.ndarray) -> bool:
    """Classify and record one block read; return whether it was recorded (not when its
    lease lapsed while it waited and another worker took it over)."""
    block, served, timer = read.block, read.served, read.timer
    if not still_held(block, runtime):
        logger.info("slide block %s/%d was taken over: not run", block.slide_id, block.index)
        return False
    with timer("model"):
        probabilities, _ = served.model.predict(tiles)
    with timer("write"), get_session(runtime.settings.resolved_database_url) as session:
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


def tiles_of(read: ReadBlock, runtime: Runtime, cache: SlideCache) -> np.ndarray | None:
    """Wait for a block's tiles; None when its slide cannot be read, which fails the slide."""
    try:
        with read.timer("wait"):
            return read.reading.result()
    except SlideError as exc:
        cache.forget(read.block.source)
        with get_session(runtime.settings.resolved_database_url) as session:
            fail_slide(read.block.slide_id, str(exc), session=session)
        return None


def interactive_work_waits(runtime: Runtime) -> bool:
    """Return whether interactive items are queued, which a block runner steps aside for."""
    with get_session(runtime.settings.resolved_database_url) as session:
        return interactive_waiting(session=session)


def settle(read: ReadBlock | None, runtime: Runtime) -> None:
    """Hand back a block read ahead that will not run, once its read is over."""
    if read is None:
        return
    try:
        hand_back([read.block], runtime)
    finally:
        read.reading.exception()  # wait: the reader must not outlive the runner


def run_blocks(runtime: Runtime, cache: SlideCache, max_seconds: float) -> tuple[int, bool]:
    """Run waiting blocks of any slide until none waits, time is up, the worker stops or
    interactive items wait; return the blocks recorded and whether blocks may still wait."""
    deadline = time.monotonic() + max_seconds
    done = 0
    with ThreadPoolExecutor(1, "inferq-block-read") as reader:
        ahead: ReadBlock | None = None
        while not runtime.stopping.is_set():
            if done and interactive_work_waits(runtime):
                settle(ahead, runtime)
                return done, True  # one block (under a second) is the most /predict waits for
            if ahead is None and time.monotonic() >= deadline:
                return done, True
            current = ahead or start_read(runtime, cache, reader)
            if current is None:
                return done, False
            ahead = None
            try:
                tiles = tiles_of(current, runtime, cache)
                if tiles is None:
                    continue
                if time.monotonic() < deadline and not runtime.stopping.is_set():
                    ahead = start_read(runtime, cache, reader)  # read it while the model runs
                done += run_block(current, runtime, cache, tiles)
            except BaseException:
                hand_back([current.block], runtime)
                settle(ahead, runtime)
                raise
        settle(ahead, runtime)
    return done, True
