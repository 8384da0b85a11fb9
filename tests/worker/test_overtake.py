"""Interactive items run in batches of their own, and those queued after the next batch
was claimed run before it."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial

from sqlalchemy import select

from core.priority import Priority
from db.jobs import NewItem, create_job
from db.models import Item
from db.session import get_session
from tests.worker.test_inference import loaded, runtime, tile  # noqa: F401
from worker.engine import next_batch, overtake, run_batch
from worker.runtime import Runtime


def queue(runtime: Runtime, seeds: range, priority: Priority) -> list[uuid.UUID]:  # noqa: F811
    blobs = [tile(seed) for seed in seeds]
    items = [NewItem(f"{i}.png", runtime.store.put(b), len(b)) for i, b in enumerate(blobs)]
    with get_session(runtime.settings.resolved_database_url) as session:
        return create_job(items, session=session, priority=priority.rank)[1]


def statuses(runtime: Runtime, ids: list[uuid.UUID]) -> set[str]:  # noqa: F811
    with get_session(runtime.settings.resolved_database_url) as session:
        return set(session.scalars(select(Item.status).where(Item.id.in_(ids))))


def test_urgent_items_overtake_a_prefetched_bulk_batch(runtime: Runtime) -> None:  # noqa: F811
    bulk = queue(runtime, range(100, 116), Priority.BULK)
    prefetched = next_batch(runtime)  # claimed while an earlier batch would be running
    assert prefetched is not None and len(prefetched.claimed) == 8
    urgent = queue(runtime, range(200, 203), Priority.INTERACTIVE)
    assert (
        overtake(prefetched, runtime, partial(run_batch, runtime=runtime)) == 3
    )  # run alone, before the prefetched batch
    assert statuses(runtime, urgent) == {"succeeded"}
    assert statuses(runtime, [item.id for item in prefetched.claimed]) == {"running"}
    assert run_batch(prefetched, runtime) == 8
    assert (runtime.metrics.batches, runtime.metrics.items) == (2, 11)
    assert statuses(runtime, bulk) == {"succeeded", "queued"}


def test_urgent_items_are_batched_alone_and_such_a_batch_is_not_overtaken(
    runtime: Runtime,  # noqa: F811
) -> None:
    queue(runtime, range(300, 302), Priority.INTERACTIVE)
    queue(runtime, range(310, 320), Priority.BULK)
    prefetched = next_batch(runtime)
    assert prefetched is not None
    assert [item.priority for item in prefetched.claimed] == [0, 0]  # not filled with bulk
    later = queue(runtime, range(400, 402), Priority.INTERACTIVE)
    assert overtake(prefetched, runtime, partial(run_batch, runtime=runtime)) == 0
    assert statuses(runtime, later) == {"queued"}  # the next claim takes them first


def test_a_drained_batch_waits_for_more_before_it_runs(runtime: Runtime) -> None:  # noqa: F811
    # One-image requests arrive while the model runs: the next batch waits up to the batch
    # wait for them instead of running the few that were queued when it was claimed. An
    # interactive batch is filled with interactive items only.
    waiting = runtime.settings.model_copy(update={"max_batch_wait_ms": 400.0})
    runtime = replace(runtime, settings=waiting)
    with ThreadPoolExecutor(1) as pool:
        first = queue(runtime, range(400, 402), Priority.NORMAL)
        prefetch = pool.submit(next_batch, runtime)
        time.sleep(0.1)  # the prefetch has claimed the first two and is waiting
        later = queue(runtime, range(410, 413), Priority.NORMAL)
        batch = prefetch.result()
        assert batch is not None
        assert sorted(item.id for item in batch.claimed) == sorted(first + later)

        urgent = queue(runtime, range(420, 422), Priority.INTERACTIVE)
        prefetch = pool.submit(next_batch, runtime)
        time.sleep(0.1)
        queue(runtime, range(430, 433), Priority.BULK)
        more_urgent = queue(runtime, range(440, 441), Priority.INTERACTIVE)
        batch = prefetch.result()
    assert batch is not None
    assert sorted(item.id for item in batch.claimed) == sorted(urgent + more_urgent)
