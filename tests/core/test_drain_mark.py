"""The drain mark on real Redis: a worker holds it with the room in its batches, a gateway of
the same database reads it, anything unreadable reads as no mark."""

from __future__ import annotations

import time

import redis

from core.drain_mark import TTL_MS, DrainMark, mark_key

DATABASE = "postgresql+psycopg://127.0.0.1/inferq"


def test_a_gateway_reads_the_room_a_worker_of_its_database_holds(redis_url: str) -> None:
    worker, gateway = DrainMark(redis_url, DATABASE), DrainMark(redis_url, DATABASE)
    assert gateway.room() == 0
    worker.hold(40)
    assert gateway.room() == 40
    assert 0 < redis.Redis.from_url(redis_url).pttl(mark_key(DATABASE)) <= TTL_MS
    worker.hold(12)  # each claim renews it with the room it left
    assert gateway.room() == 12


def test_a_gateway_of_another_database_sees_no_mark(redis_url: str) -> None:
    DrainMark(redis_url, DATABASE).hold(40)
    assert DrainMark(redis_url, DATABASE + "_other").room() == 0


def test_a_full_batch_drops_the_mark_but_the_drain_must_still_look_again(
    redis_url: str,
) -> None:
    worker, gateway = DrainMark(redis_url, DATABASE), DrainMark(redis_url, DATABASE)
    worker.hold(40)
    worker.hold(0)
    assert gateway.room() == 0  # wake-ups reach other workers again
    assert worker.release() is True  # it set the mark during this drain
    assert worker.release() is False
    worker.hold(0)  # a drain of full batches only: gateways sent every wake-up
    assert worker.release() is False


def test_release_drops_the_mark(redis_url: str) -> None:
    worker, gateway = DrainMark(redis_url, DATABASE), DrainMark(redis_url, DATABASE)
    assert worker.release() is False  # never held: nothing was skipped for it
    worker.hold(40)
    assert worker.release() is True
    assert gateway.room() == 0


def test_the_mark_lapses_on_its_own(redis_url: str) -> None:
    DrainMark(redis_url, DATABASE).hold(40)
    client = redis.Redis.from_url(redis_url)
    client.pexpire(mark_key(DATABASE), 1)  # as TTL_MS after a worker died mid-drain
    time.sleep(0.05)
    assert DrainMark(redis_url, DATABASE).room() == 0


def test_an_unreachable_redis_reads_as_no_mark_and_never_raises() -> None:
    lost = DrainMark("redis://127.0.0.1:1/0", DATABASE)
    lost.hold(40)
    assert lost.room() == 0  # so every wake-up is sent
    assert lost.release() is True  # the drain still looks again


def test_without_redis_there_is_no_mark() -> None:
    folder = DrainMark(None, DATABASE)
    folder.hold(40)
    assert folder.room() == 0
    assert folder.release() is False
