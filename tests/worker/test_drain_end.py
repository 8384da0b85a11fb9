"""The end of a drain with the drain mark on real Redis (core.drain_mark): the mark is held
while batches have room and dropped when the drain ends; items committed while a gateway
still saw it are taken by the drain's last look; a drain cut short publishes a wake-up."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from core.drain_mark import DrainMark
from core.priority import Priority, queue_for
from core.queue import make_celery, wake_workers
from core.settings import Settings
from db.models import Item, Result
from db.session import get_session
from tests.worker.test_inference import loaded, submit_singles, tile  # noqa: F401
from worker.engine import BatchEngine
from worker.runtime import Runtime, build_runtime


class WatchedMark(DrainMark):
    """The real mark, which also notes the room each claim announced and, once, runs a
    callback just before it is released (a gateway committing items at that moment)."""

    def __init__(self, redis_url: str, database_url: str) -> None:
        super().__init__(redis_url, database_url)
        self.rooms: list[int] = []
        self.before_release: list[object] = []

    def hold(self, room: int) -> None:
        self.rooms.append(room)
        super().hold(room)

    def release(self) -> bool:
        while self.before_release:
            callback = self.before_release.pop()
            callback()  # type: ignore[operator]
        return super().release()


@pytest.fixture
def runtime(tmp_path: Path, database_url: str, redis_url: str, loaded) -> Runtime:  # type: ignore[no-untyped-def]  # noqa: F811
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        broker_url=redis_url,
        max_batch_size=8,
        worker_id="test-worker",
        _env_file=None,  # type: ignore[call-arg]
    )
    runtime = build_runtime(settings, loaded)
    runtime.drain_mark = WatchedMark(redis_url, settings.resolved_database_url)
    return runtime


def gateway_view(runtime: Runtime, redis_url: str) -> int:
    """The room a gateway of this database reads."""
    return DrainMark(redis_url, runtime.settings.resolved_database_url).room()


def wake_ups(redis_url: str) -> list[list[str]]:
    """Return the item IDs each wake-up on the normal queue carries."""
    raw = redis.Redis.from_url(redis_url).lrange(queue_for(Priority.NORMAL), 0, -1)
    return [json.loads(base64.b64decode(json.loads(m)["body"]))[0][0] for m in raw]


def statuses(runtime: Runtime) -> list[str]:
    with get_session(runtime.settings.resolved_database_url) as session:
        return sorted(item.status for item in session.scalars(select(Item)))


def test_a_drain_holds_the_room_its_batches_left_and_drops_the_mark_at_its_end(
    runtime: Runtime, redis_url: str
) -> None:
    tasks = submit_singles(runtime, [tile(i) for i in range(20)])
    assert BatchEngine(runtime).serve(tasks[0]) == 20
    mark = runtime.drain_mark
    assert isinstance(mark, WatchedMark)
    assert mark.rooms == [0, 0, 4]  # 8 + 8 + 4: only the last batch had room
    assert gateway_view(runtime, redis_url) == 0


def test_items_committed_while_a_gateway_saw_the_mark_are_taken_by_the_same_drain(
    runtime: Runtime, redis_url: str
) -> None:
    tasks = submit_singles(runtime, [tile(30 + i) for i in range(5)])
    mark = runtime.drain_mark
    assert isinstance(mark, WatchedMark)
    late: list[list[uuid.UUID]] = []

    def gateway_commits() -> None:  # read the mark, then commit items with no wake-up
        assert gateway_view(runtime, redis_url) == 3
        late.extend(submit_singles(runtime, [tile(40 + i) for i in range(3)]))

    mark.before_release.append(gateway_commits)
    assert BatchEngine(runtime).serve(tasks[0]) == 8  # 5, then the 3 of its last look
    assert len(late) == 3 and statuses(runtime) == ["succeeded"] * 8
    assert wake_ups(redis_url) == []  # nothing was left for another wake-up


def test_a_drain_cut_short_publishes_one_wake_up_for_what_waits(
    runtime: Runtime, redis_url: str
) -> None:
    runtime.settings = runtime.settings.model_copy(update={"max_drain_seconds": 0.001})
    app = make_celery(runtime.settings)
    engine = BatchEngine(runtime, wake=lambda: wake_workers(app))
    mark = runtime.drain_mark
    assert isinstance(mark, WatchedMark)
    tasks = submit_singles(runtime, [tile(50 + i) for i in range(5)])
    mark.before_release.append(lambda: submit_singles(runtime, [tile(60 + i) for i in range(3)]))
    assert engine.serve(tasks[0]) == 5  # time is up after the first batch
    assert wake_ups(redis_url) == [[]]  # carrying no items: its worker drains the queue
    runtime.settings = runtime.settings.model_copy(update={"max_drain_seconds": 30.0})
    assert engine.serve([]) == 3  # as that wake-up does
    assert wake_ups(redis_url) == [[]]  # a drain that ran dry needs none


def test_a_drain_of_full_batches_set_no_mark_and_publishes_nothing(
    runtime: Runtime, redis_url: str
) -> None:
    runtime.settings = runtime.settings.model_copy(update={"max_drain_seconds": 0.001})
    app = make_celery(runtime.settings)
    tasks = submit_singles(runtime, [tile(70 + i) for i in range(20)])
    assert BatchEngine(runtime, wake=lambda: wake_workers(app)).serve(tasks[0]) == 8
    assert wake_ups(redis_url) == []  # every other item still has its own wake-up


def test_a_failing_drain_publishes_a_wake_up_once_it_held_the_mark(
    runtime: Runtime, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_celery(runtime.settings)
    engine = BatchEngine(runtime, wake=lambda: wake_workers(app))
    tasks = submit_singles(runtime, [tile(90 + i) for i in range(3)])

    def broken(*_: object) -> object:
        raise RuntimeError("the model failed")

    monkeypatch.setattr(runtime.served.model, "predict", broken)
    with pytest.raises(RuntimeError):
        engine.serve(tasks[0])
    assert statuses(runtime) == ["queued"] * 3  # handed back
    assert wake_ups(redis_url) == [[]]
    assert gateway_view(runtime, redis_url) == 0
    with get_session(runtime.settings.resolved_database_url) as session:
        assert session.scalars(select(Result)).all() == []
