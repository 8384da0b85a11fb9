"""The batch engine: one wake-up keeps the model busy for as long as work is queued.

A task is only a wake-up. The engine claims the task's items and fills the batch with
queued items of any job (fair between tenants, db.claims), so one-image requests are
batched like bulk ones. While the model runs on one batch, a prefetch thread claims and
decodes the next and a writer thread writes the results of the one before, so the model
waits neither for decoding nor for the database. It stops claiming when the queue
is empty, after `max_drain_seconds`, or when the worker is shutting down, and hands back
whatever it claimed but did not run. Interactive items that arrive after the next batch
was claimed overtake it: before a prefetched batch without them runs, they are claimed
alone and run first, so urgent work waits for one running batch, not two.

While it drains with room in its batches it holds the drain mark, and gateways send no
wake-ups for the few items that fit (core.drain_mark). So a drain ends in two steps: drop
the mark, then claim once more; a drain cut short (time up, shutdown, an error) instead
publishes one wake-up for whatever still waits.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from db.claims import ClaimedItem, Outcome
from worker.inference import (
    URGENT,
    Batch,
    claim_batch,
    claim_urgent,
    decode_batch,
    fill_batch,
    hand_back,
    log_predictions,
    persist,
    to_outcomes,
)
from worker.runtime import Runtime
from worker.serving import Served

logger = logging.getLogger(__name__)


def first_batch(item_ids: list[uuid.UUID], runtime: Runtime) -> Batch | None:
    """Claim the wake-up's items and fill the batch, waiting briefly if it is not full."""
    batch = Batch([])
    with batch.timer("claim"):
        claimed = claim_batch(item_ids, runtime)
        if claimed:
            claimed = fill_batch(claimed, runtime)
    if not claimed:
        return None
    batch.claimed = noted(claimed, runtime)
    try:
        return decode_batch(batch, runtime)
    except BaseException:
        hand_back(batch.claimed, runtime)
        raise


def claimed_batch(claim: Callable[[], list[ClaimedItem]], runtime: Runtime) -> Batch | None:
    """Claim with `claim` and decode what it took, or None when it took nothing."""
    batch = Batch([])
    with batch.timer("claim"):
        batch.claimed = claim()
    if not batch.claimed:
        return None
    try:
        return decode_batch(batch, runtime)
    except BaseException:
        hand_back(batch.claimed, runtime)
        raise


def next_batch(runtime: Runtime) -> Batch | None:
    """Claim and decode the next batch of queued items, or None when nothing waits.

    A batch that is not full waits up to the batch wait once for more, as the first does:
    it runs on the prefetch thread beside the model, and without it a steady stream of
    one-image requests would be claimed a few at a time, each batch paying its fixed
    database and task cost for a handful of images.
    """
    return claimed_batch(lambda: noted(filled(claim_batch([], runtime), runtime), runtime), runtime)


def filled(claimed: list[ClaimedItem], runtime: Runtime) -> list[ClaimedItem]:
    """Wait for a batch to fill (fill_batch), unless it is empty: the drain ends."""
    return fill_batch(claimed, runtime) if claimed else claimed


def noted(claimed: list[ClaimedItem], runtime: Runtime) -> list[ClaimedItem]:
    """Hold the drain mark with the room a drain's claim left in its batch (none: dropped,
    so other workers are woken); an empty claim ends the drain and leaves the mark alone."""
    if claimed:
        runtime.drain_mark.hold(runtime.settings.max_batch_size - len(claimed))
    return claimed


def urgent_batch(runtime: Runtime) -> Batch | None:
    """Claim and decode the interactive items that arrived after the prefetch, if any."""
    return claimed_batch(lambda: claim_urgent(runtime), runtime)


def overtake(prefetched: Batch, runtime: Runtime, run: Callable[[Batch], int]) -> int:
    """Run interactive work queued since `prefetched` was claimed before it, with `run` (a
    drain's WriteBehind.run); return how many items succeeded. A batch already holding
    interactive items goes as it is."""
    if any(item.priority == URGENT for item in prefetched.claimed) or prefetched.suspect:
        return 0
    try:
        batch = urgent_batch(runtime)
    except BaseException:
        hand_back(prefetched.claimed, runtime)
        raise
    if batch is None:
        return 0
    try:
        return run(batch)
    except BaseException:
        hand_back(batch.claimed + prefetched.claimed, runtime)
        raise


def run_batch(batch: Batch, runtime: Runtime) -> int:
    """Run the model on a decoded batch, persist, signal; return how many items succeeded."""
    return finish(score(batch, runtime), runtime)


@dataclass
class Scored:
    """A batch the model has run on: its outcomes wait to be written."""

    batch: Batch
    served: Served
    outcomes: list[Outcome]


def score(batch: Batch, runtime: Runtime) -> Scored:
    """Run the model on a decoded batch and label its outputs."""
    served = batch.served or runtime.served
    model = served.model
    with batch.timer("model"):
        if len(batch.images):
            probabilities, model_ms = model.predict(batch.images)
        else:
            probabilities, model_ms = batch.images, 0.0
    outcomes = to_outcomes(batch.decoded, probabilities, model_ms, model.card, batch.warnings)
    return Scored(batch, served, outcomes)


def finish(scored: Scored, runtime: Runtime) -> int:
    """Persist a scored batch, signal its jobs, count and log it; return how many succeeded."""
    batch, served, outcomes = scored.batch, scored.served, scored.outcomes
    with batch.timer("write"):
        jobs = {item.job_id for item in batch.claimed}
        written = persist(outcomes, batch.errors, served, runtime, jobs)
    runtime.announcer.announce(item.job_id for item in batch.claimed)
    waits = [(item.claimed_at - item.created_at).total_seconds() for item in batch.claimed]
    runtime.metrics.observe_batch(len(batch.images), batch.timer.stages, waits, len(batch.errors))
    if runtime.settings.log_predictions:
        log_predictions(outcomes, served)
    logger.info(
        "batch done: %d succeeded, %d failed",
        written,
        len(batch.errors),
        extra={
            "batch_size": len(batch.claimed),
            "stages_ms": batch.timer.stages,
            "job_ids": sorted({str(item.job_id) for item in batch.claimed}),
        },
    )
    return written


def finish_or_hand_back(scored: Scored, runtime: Runtime) -> int:
    """Finish a scored batch; if its write fails, hand its items back and raise."""
    try:
        return finish(scored, runtime)
    except BaseException:
        hand_back(scored.batch.claimed, runtime)
        raise


class WriteBehind:
    """One drain's model runs and writes: a scored batch is written on the writer thread
    while the model runs on the next, at most one write in flight, in the order the
    batches ran."""

    def __init__(self, pool: ThreadPoolExecutor, runtime: Runtime) -> None:
        self._pool = pool
        self._runtime = runtime
        self._writing: Future[int] | None = None

    def run(self, batch: Batch) -> int:
        """Run the model on a batch and hand its results to the writer; return how many
        items the write before it wrote. The caller hands the batch back if this raises."""
        # A batch with an item lost before may kill the worker: no other results go with it.
        written = self.land() if batch.suspect else 0
        scored = score(batch, self._runtime)
        written += self.land()
        self._writing = self._pool.submit(finish_or_hand_back, scored, self._runtime)
        return written

    def land(self) -> int:
        """Wait for the write in flight; return how many items it wrote (a failure raises,
        its batch handed back)."""
        writing, self._writing = self._writing, None
        return writing.result() if writing is not None else 0

    def land_quietly(self) -> None:
        """Wait for the write in flight while another error ends the drain: a failed write
        has handed its batch back, and the first error is the one to raise."""
        try:
            self.land()
        except Exception as exc:
            logger.warning("a batch's write failed as well: %s", type(exc).__name__)


def settle(pending: Future[Batch | None] | None, runtime: Runtime) -> None:
    """Wait for a prefetch that is no longer wanted and hand its items back."""
    if pending is None:
        return
    try:
        batch = pending.result()
    except Exception:
        return  # it handed back its own items
    if batch is not None:
        hand_back(batch.claimed, runtime)


class BatchEngine:
    """Runs batches for wake-ups, prefetching the next batch while the model runs.

    `wake` publishes one wake-up carrying no items (core.queue.wake_workers); an engine
    without a broker (a benchmark's) has none, and leaves a drain cut short to the sweeper.
    """

    def __init__(self, runtime: Runtime, wake: Callable[[], object] | None = None) -> None:
        self.runtime = runtime
        self.prefetcher = ThreadPoolExecutor(1, "inferq-prefetch")
        self.writer = ThreadPoolExecutor(1, "inferq-writer")
        self._wake = wake

    def serve(self, item_ids: list[uuid.UUID]) -> int:
        """Serve one wake-up; return how many items succeeded (0 if its items were taken)."""
        runtime = self.runtime
        if runtime.recent.covers(item_ids):
            return 0  # a batch of this process already took them: nothing to ask
        deadline = time.monotonic() + runtime.settings.max_drain_seconds
        succeeded = 0
        try:
            batch = first_batch(item_ids, runtime)
            while batch is not None:
                succeeded += self.drain(batch, deadline)
                batch = self.last_look(deadline)
        except BaseException:
            if runtime.drain_mark.release():
                self.wake()
            raise
        return succeeded

    def drain(self, batch: Batch | None, deadline: float) -> int:
        """Run `batch`, then batches claimed while each runs, until a claim finds nothing
        or the drain is cut short; return how many items succeeded."""
        runtime = self.runtime
        succeeded = 0
        writes = WriteBehind(self.writer, runtime)
        try:
            while batch is not None:
                pending = None
                if not batch.suspect and time.monotonic() < deadline:
                    pending = self.prefetcher.submit(next_batch, runtime)
                try:
                    succeeded += writes.run(batch)
                except BaseException:
                    hand_back(batch.claimed, runtime)
                    settle(pending, runtime)
                    raise
                if runtime.stopping.is_set():
                    settle(pending, runtime)
                    break
                batch = pending.result() if pending is not None else None
                if batch is not None:
                    succeeded += overtake(batch, runtime, writes.run)
        except BaseException:
            writes.land_quietly()
            raise
        return succeeded + writes.land()

    def last_look(self, deadline: float) -> Batch | None:
        """End a drain: drop the drain mark, then claim once more, for items whose wake-ups
        were skipped while it was held (core.drain_mark). A drain cut short publishes a
        wake-up for them instead. Return the new claim's batch, or None: the drain is over."""
        runtime = self.runtime
        if not runtime.drain_mark.release():
            return None
        if runtime.stopping.is_set() or time.monotonic() >= deadline:
            self.wake()
            return None
        try:
            return next_batch(runtime)
        except BaseException:
            self.wake()
            raise

    def wake(self) -> None:
        """Publish one wake-up for whatever waits; best effort (the sweeper wakes later)."""
        if self._wake is None:
            return
        try:
            self._wake()
        except Exception as exc:
            logger.warning("could not publish a wake-up: %s", type(exc).__name__)
