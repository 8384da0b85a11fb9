"""Task events for Flower, on real processes: with INFERQ_TASK_EVENTS=true the gateway and
the worker send what Flower reads from Redis; without it, nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from celery import Celery

from db.migrate import upgrade
from tests.integration.conftest import (
    gateway_and_worker,
    stack_environment,
    tile_bytes,
    wait_for_job,
)

PROBE = "inferq-probe"


@contextmanager
def listening(broker_url: str) -> Iterator[list[str]]:
    """Collect the types of the Celery events sent on the broker, as Flower does."""
    app = Celery(broker=broker_url, set_as_current=False)
    heard: list[str] = []
    with app.connection() as connection, app.connection() as probe:
        receiver = app.events.Receiver(
            connection, handlers={"*": lambda event: heard.append(event["type"])}
        )
        # One long capture: events sent between two short ones would be missed (pub/sub).
        thread = threading.Thread(
            target=receiver.capture, kwargs={"limit": None, "timeout": None}, daemon=True
        )
        thread.start()
        dispatcher = app.events.Dispatcher(probe)
        deadline = time.monotonic() + 10
        while PROBE not in heard:  # until the receiver has subscribed
            assert time.monotonic() < deadline, "the event receiver never subscribed"
            dispatcher.send(PROBE)
            time.sleep(0.1)
        try:
            yield heard
        finally:
            receiver.should_stop = True
            dispatcher.send(PROBE)  # wakes the capture so that it sees should_stop
            thread.join(5)


def sent(heard: list[str]) -> set[str]:
    """Return the event types heard, less the receiver's own probes."""
    return set(heard) - {PROBE}


def run_one_job(tmp_path: Path, env: dict[str, str]) -> None:
    """Start a gateway and worker, classify one tile, and stop them."""
    tmp_path.mkdir()
    with (
        gateway_and_worker(env, tmp_path, workers_ready=True) as stack,
        httpx.Client(base_url=stack.url, timeout=60) as client,
    ):
        accepted = client.post("/v1/jobs", files=[("files", ("a.png", tile_bytes(1)))])
        assert accepted.status_code == 202, accepted.text
        assert wait_for_job(client, accepted.json()["job_id"])["status"] == "succeeded"


def test_task_events_reach_the_broker_only_when_turned_on(
    tmp_path: Path, postgres_url: str, redis_url: str, model_dir: Path
) -> None:
    upgrade(postgres_url)
    env = stack_environment(tmp_path, postgres_url, redis_url, model_dir)
    with listening(redis_url) as quiet:
        run_one_job(tmp_path / "off", {**env, "INFERQ_TASK_EVENTS": "false"})
    assert sent(quiet) == set()
    with listening(redis_url) as seen:
        run_one_job(tmp_path / "on", {**env, "INFERQ_TASK_EVENTS": "true"})
    assert {"task-sent", "task-received", "task-started", "task-succeeded"} <= sent(seen), seen
    assert {"worker-online", "worker-offline"} <= sent(seen), seen  # Flower: up, then down
