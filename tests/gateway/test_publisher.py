"""The gateway's publisher: wake-ups handed over while one is being sent share the next
message (at most a batch of IDs each, on their priority's queue); a broker that cannot be
reached leaves the items to the sweeper; shutdown sends what is pending."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import redis
from sqlalchemy import select

from core.drain_mark import DrainMark
from core.priority import Priority, queue_for
from core.settings import Settings
from db.jobs import NewItem, create_job
from db.models import Item
from db.session import get_session
from gateway.publisher import Publisher


def make_settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path, _env_file=None, **values)  # type: ignore[call-arg]


def carried(redis_url: str, priority: Priority) -> list[list[str]]:
    """Return the item IDs of each wake-up waiting on a priority's queue, oldest first."""
    client = redis.Redis.from_url(redis_url)
    raw = client.lrange(queue_for(priority), 0, -1)
    messages = [json.loads(base64.b64decode(json.loads(m)["body"])) for m in reversed(raw)]
    return [message[0][0] for message in messages]


def test_one_image_wake_ups_handed_over_at_once_share_batch_sized_messages(
    tmp_path: Path, redis_url: str
) -> None:
    publisher = Publisher(make_settings(tmp_path, broker_url=redis_url, max_batch_size=16))
    ids = [uuid.uuid4() for _ in range(200)]
    for item_id in ids:  # as 200 one-image requests would, while the first is being sent
        publisher.wake([item_id], Priority.NORMAL)
    assert publisher.flush()
    messages = carried(redis_url, Priority.NORMAL)
    assert sorted(i for message in messages for i in message) == sorted(map(str, ids))
    assert all(len(message) <= 16 for message in messages)
    assert len(messages) < 40  # one message an image would be 200
    publisher.close()


def test_each_priority_goes_on_its_own_queue(tmp_path: Path, redis_url: str) -> None:
    publisher = Publisher(make_settings(tmp_path, broker_url=redis_url))
    urgent, bulk = uuid.uuid4(), uuid.uuid4()
    publisher.wake([bulk], Priority.BULK)
    publisher.wake([urgent], Priority.INTERACTIVE)
    publisher.close()  # sends what is pending before the thread stops
    assert carried(redis_url, Priority.INTERACTIVE) == [[str(urgent)]]
    assert carried(redis_url, Priority.BULK) == [[str(bulk)]]
    assert carried(redis_url, Priority.NORMAL) == []


def test_wake_ups_after_close_are_sent_by_the_caller(tmp_path: Path, redis_url: str) -> None:
    publisher = Publisher(make_settings(tmp_path, broker_url=redis_url))
    publisher.close()
    item_id = uuid.uuid4()
    publisher.wake([item_id], Priority.NORMAL)
    assert carried(redis_url, Priority.NORMAL) == [[str(item_id)]]


def test_an_unreachable_broker_leaves_the_items_to_the_sweeper(
    tmp_path: Path, sqlite_url: str
) -> None:
    settings = make_settings(tmp_path, database_url=sqlite_url, broker_url="redis://127.0.0.1:1/0")
    with get_session(sqlite_url) as session:
        _, ids = create_job([NewItem("a.png", "a" * 64, 1)], session=session)
    publisher = Publisher(settings)
    publisher.wake(ids, Priority.NORMAL)
    assert publisher.flush(timeout=60)
    with get_session(sqlite_url) as session:
        published = session.scalars(select(Item.published_at).where(Item.id.in_(ids))).all()
    assert published == [None]  # the sweeper republishes unpublished items at its next pass
    publisher.close()


def test_no_wake_up_is_sent_for_items_a_draining_worker_has_room_for(
    tmp_path: Path, redis_url: str
) -> None:
    settings = make_settings(tmp_path, broker_url=redis_url)
    worker = DrainMark(redis_url, settings.resolved_database_url)
    publisher = Publisher(settings)
    worker.hold(2)  # a worker drains, with room for two more in its next batch
    publisher.wake([uuid.uuid4()], Priority.NORMAL)
    assert publisher.flush()
    assert carried(redis_url, Priority.NORMAL) == []  # its next claim takes the item
    three = [uuid.uuid4() for _ in range(3)]
    publisher.wake(three, Priority.NORMAL)  # more than it has room for
    assert publisher.flush()
    assert carried(redis_url, Priority.NORMAL) == [list(map(str, three))]
    worker.release()  # the drain is over
    last = uuid.uuid4()
    publisher.wake([last], Priority.INTERACTIVE)
    publisher.close()
    assert carried(redis_url, Priority.INTERACTIVE) == [[str(last)]]
    assert (publisher.sent, publisher.skipped) == (4, 1)  # /metrics: inferq_wake_ups_total


def test_a_worker_of_another_database_holds_back_no_wake_up(tmp_path: Path, redis_url: str) -> None:
    DrainMark(redis_url, "postgresql+psycopg://127.0.0.1/elsewhere").hold(60)
    publisher = Publisher(make_settings(tmp_path, broker_url=redis_url))
    item_id = uuid.uuid4()
    publisher.wake([item_id], Priority.NORMAL)
    publisher.close()
    assert carried(redis_url, Priority.NORMAL) == [[str(item_id)]]
