"""Wake-ups travel on their priority's queue; a consumer asks the broker most urgent first,
so on Redis an urgent wake-up never waits behind bulk ones (the folder queue visits the
queues in turn); the sweeper republishes on the item's queue."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from celery import Celery
from kombu import Consumer, Message, Queue
from sqlalchemy import update

from core.priority import Priority, consumed_queues, queue_for
from core.queue import make_celery, publish_items
from core.settings import Settings
from db.jobs import NewItem, create_job
from db.models import Item, utc_now
from db.session import get_session
from worker.sweeper import sweep_once


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path, _env_file=None, **values)  # type: ignore[call-arg]


def publish_bulk_then_urgent(app: Celery) -> None:
    """Publish 5 bulk and 3 normal wake-ups, then 1 interactive, in that order."""
    publish_items(app, [str(uuid.uuid4()) for _ in range(5)], 1, Priority.BULK)
    publish_items(app, [str(uuid.uuid4()) for _ in range(3)], 1, Priority.NORMAL)
    publish_items(app, [str(uuid.uuid4())], 1, Priority.INTERACTIVE)


def consume_order(app: Celery, n: int) -> list[str]:
    """Consume n messages one at a time as a worker does; return the queue of each."""
    seen: list[str] = []

    def take(body: object, message: Message) -> None:
        seen.append(message.delivery_info["routing_key"])
        message.ack()

    queues = [Queue(name, routing_key=name) for name in consumed_queues()]
    with app.connection_for_read() as connection:
        channel = connection.channel()
        with Consumer(channel, queues, callbacks=[take], prefetch_count=1):
            while len(seen) < n:
                connection.drain_events(timeout=5)
    return seen


def test_on_redis_the_urgent_wake_up_comes_first_then_normal_then_bulk(
    tmp_path: Path, redis_url: str
) -> None:
    app = make_celery(settings(tmp_path, broker_url=redis_url))
    publish_bulk_then_urgent(app)
    client = redis.Redis.from_url(redis_url)
    assert [client.llen(queue_for(level)) for level in Priority] == [1, 3, 5]
    order = consume_order(app, 9)
    assert order == ["inference.interactive"] + ["inference"] * 3 + ["inference.bulk"] * 5


def test_the_folder_queue_serves_every_queue_in_turn(tmp_path: Path) -> None:
    app = make_celery(settings(tmp_path))  # no broker set: the embedded folder queue
    publish_bulk_then_urgent(app)
    order = consume_order(app, 9)
    assert sorted(order) == sorted(
        ["inference.interactive"] + ["inference"] * 3 + ["inference.bulk"] * 5
    )
    assert "inference.interactive" in order[:3]  # behind at most one wake-up of each other queue


@pytest.mark.parametrize("level", list(Priority))
def test_the_sweeper_republishes_on_the_items_queue(
    tmp_path: Path, postgres_url: str, redis_url: str, level: Priority
) -> None:
    current = settings(
        tmp_path, broker_url=redis_url, database_url=postgres_url, stale_queued_seconds=1
    )
    items = [NewItem(f"{n}.png", uuid.uuid4().hex * 2, 1) for n in range(3)]
    with get_session(postgres_url) as session:
        ids = create_job(items, session=session, tenant="lab", priority=level.rank)[1]
        stale = utc_now() - timedelta(seconds=60)
        session.execute(update(Item).where(Item.id.in_(ids)).values(published_at=stale))
    app = make_celery(current)
    assert sweep_once(current, app) == (0, 3)
    client = redis.Redis.from_url(redis_url)
    assert {queue: client.llen(queue) for queue in consumed_queues()} == {
        queue: (1 if queue == queue_for(level) else 0) for queue in consumed_queues()
    }


def test_the_sweeper_wakes_a_worker_when_items_waited_a_whole_pass(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    current = settings(tmp_path, broker_url=redis_url, database_url=postgres_url)
    app = make_celery(current)
    client = redis.Redis.from_url(redis_url)
    with get_session(postgres_url) as session:
        ids = create_job([NewItem("a.png", "a" * 64, 1)], session=session)[1]
    assert sweep_once(current, app) == (0, 0)
    assert client.llen(queue_for(Priority.NORMAL)) == 0  # just queued: its wake-up is due
    with get_session(postgres_url) as session:  # published lately, yet unclaimed for a pass,
        before = utc_now() - timedelta(seconds=current.sweep_interval_seconds + 5)
        session.execute(update(Item).where(Item.id.in_(ids)).values(created_at=before))
    assert sweep_once(current, app) == (0, 0)  # as when its wake-up was skipped for a
    assert client.llen(queue_for(Priority.NORMAL)) == 1  # worker that then died draining
    assert consume_order(app, 1) == ["inference"]
